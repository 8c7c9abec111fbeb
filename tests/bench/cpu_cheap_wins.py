"""The cheap CPU knobs, each against ft-tui's current choice in the same process (issue 15.3).

One process loads the default model (SmolLM2-135M-Instruct) with the LoRA adapter ft-tui
trains by default (r16, all linear layers) and real ticket-triage rows, then times:

1. **Threads**: a training step (batch 4, bf16 autocast as `precision: auto` uses on a
   CPU with AVX512-BF16/AMX, else fp32) with torch's default thread count against one thread.
2. **torch.compile**: the same step, eager against `torch.compile(model)` (inductor, needs
   a C compiler); the one-off compile time is printed apart.
3. **Data loading**: TRL's collator building one batch, as a share of the step time; this
   bounds what `dataloader_num_workers > 0` could save.
4. **Evaluation generation**: greedy answers to held-out tickets (`ft-tui eval`'s
   generator and prompts) at batch 1, 4, 8 (ft-tui's CPU default) and 16, and at the
   default batch in bf16 instead of fp32.

Arms alternate (A B A B ...) after a warm-up each, and the median is reported, so a busy
machine hurts both sides alike. Prints each ratio against the current choice.

    HF_HUB_OFFLINE=1 python tests/bench/cpu_cheap_wins.py              # ~10 min on 2 cores
    HF_HUB_OFFLINE=1 python tests/bench/cpu_cheap_wins.py --no-compile --gen-prompts 8
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "sample_data" / "ticket_triage"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="timed steps per arm (alternating)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile arm")
    p.add_argument("--gen-prompts", type=int, default=16, help="held-out tickets answered per arm")
    return p.parse_args(argv)


def load(path):
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from ft_tui.core.config.settings import RunConfig
    from ft_tui.core.training.builder import lora_config

    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    model.config.use_cache = False
    return get_peft_model(model, lora_config(RunConfig()))


def training_rows(tokenizer, n: int) -> list[dict]:
    rows = []
    with open(DATA / "train.jsonl", encoding="utf-8") as fh:
        for line in fh:
            ids = tokenizer.apply_chat_template(json.loads(line)["messages"], tokenize=True)
            ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
            rows.append({"input_ids": list(ids)})
            if len(rows) == n:
                break
    return rows


def step_timer(model, batch, autocast_bf16: bool):
    import torch

    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> float:
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
            loss = model(**batch).loss
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        return time.perf_counter() - t
    return step


def alternate(arms: dict, rounds: int) -> dict[str, list[float]]:
    """Warm each arm once, then run them in turn; a round's order flips every time."""
    for fn in arms.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in arms}
    names = list(arms)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            times[name].append(arms[name]())
    return times


def with_threads(n: int, fn):
    import torch

    def run():
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            return fn()
        finally:
            torch.set_num_threads(before)
    return run


def report(title: str, times: dict[str, list[float]], baseline: str, unit: str = "s") -> None:
    print(f"\n{title}")
    base = statistics.median(times[baseline])
    for name, ts in times.items():
        med = statistics.median(ts)
        runs = ", ".join(f"{t:.2f}" for t in ts)
        print(f"  {name:<28} median {med:7.2f} {unit}  ({runs})   vs {baseline}: x{base / med:.2f} speed")


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from ft_tui.core.models.resolve import load_tokenizer, prepare_model
    from ft_tui.core.plan.device import detect_device, resolve_precision
    from ft_tui.core.config.settings import RunConfig

    path = prepare_model("default", log=lambda *_: None)
    tokenizer = load_tokenizer(path)
    precision = resolve_precision(RunConfig(), detect_device())
    bf16 = precision.bf16
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"load {os.getloadavg()[0]:.1f}; precision auto -> {'bf16 autocast' if bf16 else 'fp32'}")

    rows = training_rows(tokenizer, args.batch)
    collator = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id)
    batch = collator(rows)
    batch = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "labels")}
    print(f"batch {tuple(batch['input_ids'].shape)} of real tickets")
    model = load(path)
    model.train()
    step = step_timer(model, batch, bf16)

    threads = torch.get_num_threads()
    times = alternate({f"{threads} threads (default)": step, "1 thread": with_threads(1, step)},
                      args.rounds)
    report("1. training step, thread count", times, f"{threads} threads (default)")

    if not args.no_compile:
        t = time.perf_counter()
        compiled = torch.compile(model)
        cstep = step_timer(compiled, batch, bf16)
        try:
            cstep()
            print(f"\n2. torch.compile: first step (compiling) {time.perf_counter() - t:.1f} s")
            times = alternate({"eager (default)": step, "torch.compile": cstep}, args.rounds)
            report("2. training step, eager vs torch.compile", times, "eager (default)")
        except Exception as exc:  # a missing compiler or an unsupported op is itself a result
            print(f"\n2. torch.compile failed after {time.perf_counter() - t:.1f} s: "
                  f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        del compiled

    t = time.perf_counter()
    for _ in range(20):
        collator(rows)
    collate = (time.perf_counter() - t) / 20
    med_step = statistics.median(times["eager (default)"] if "eager (default)" in times
                                 else times[f"{threads} threads (default)"])
    print(f"\n3. data loading: collating one batch {collate * 1000:.2f} ms = "
          f"{100 * collate / med_step:.3f} % of a {med_step:.2f} s step "
          "(the most dataloader workers could save)")
    del model
    generation(args, path, tokenizer)
    print(f"\nload at end {os.getloadavg()[0]:.1f}")
    return 0


def generation(args, path, tokenizer) -> None:
    import torch

    from ft_tui.core.evaluate.run import prompt_messages
    from ft_tui.core.data import load_examples
    from ft_tui.core.models.generation import generate_greedy, load_for_inference, render_prompt

    cfg_prompt = ""
    examples = load_examples(DATA / "eval.jsonl").examples[:args.gen_prompts]
    prompts = [render_prompt(tokenizer, prompt_messages(ex, cfg_prompt)) for ex in examples]
    max_new = 128  # eval.max_new_tokens default
    fp32 = load_for_inference(path, device="cpu", dtype=torch.float32)
    bf16 = load_for_inference(path, device="cpu", dtype=torch.bfloat16)
    tokens: dict[str, int] = {}

    def arm(model, batch_size, name):
        def run():
            counted = [0]
            t = time.perf_counter()
            answers = generate_greedy(model, tokenizer, prompts, max_new_tokens=max_new,
                                      batch_size=batch_size,
                                      on_tokens=lambda n: counted.__setitem__(0, counted[0] + n))
            tokens[name] = sum(len(tokenizer(a)["input_ids"]) for a in answers)
            return time.perf_counter() - t
        return run

    arms = {f"fp32 batch {b}" + (" (default)" if b == 8 else ""): arm(fp32, b, f"fp32 {b}")
            for b in (8, 1, 4, 16)}
    arms["bf16 batch 8"] = arm(bf16, 8, "bf16 8")
    times = alternate(arms, max(1, args.rounds - 1))
    report(f"4. evaluation generation, {len(prompts)} held-out tickets, up to {max_new} new tokens",
           times, "fp32 batch 8 (default)")
    for name, n in tokens.items():
        print(f"  answer tokens, {name}: {n}")


if __name__ == "__main__":
    raise SystemExit(main())

"""What ft-tui's training engine costs on top of plain TRL.

Trains the same model on the same rows with the same SFTConfig twice: once through
ft-tui's TrainingRunner (events, metrics.jsonl, status.json, watchdog, checkpoints as
`ft-tui train` does them) and once through a plain TRL script (AutoModelForCausalLM +
get_peft_model + SFTTrainer). Each run is a fresh subprocess; the arms alternate (A B, then
B A, ...) so a busy shared machine hurts both alike. Both arms time the same span: from
the Trainer's train-begin to the log of the last step; tokens are the Trainer's
non-padding input tokens.

    python tests/bench/train_overhead.py                      # tiny random model, CPU
    python tests/bench/train_overhead.py --rounds 3 --steps 100
    python tests/bench/train_overhead.py --device cuda --model default --steps 200 --batch 8
    python tests/bench/train_overhead.py --device cuda --hidden 2048 --layers 16   # ~1B random

Prints tokens/s of each run, the median per arm and the ratio ft-tui / TRL (goal >= 0.97).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TICKETS = [
    ("I was charged twice for order {n}, please refund one payment.", "billing"),
    ("The printer on floor {n} is jammed again and nobody can print invoices.", "technical"),
    ("How do I reset my password? The link in email {n} has expired.", "account"),
    ("My invoice {n} shows the wrong amount.", "billing"),
    ("The email server has been down since {n} o'clock.", "technical"),
    ("Please change the email on account {n}.", "account"),
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="pairs of runs (each arm once per round)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--method", choices=("lora", "full", "qlora"), default="lora")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--model", default="", help="a real model ('default', a folder); empty: random tiny Llama")
    p.add_argument("--hidden", type=int, default=256, help="random model: hidden size")
    p.add_argument("--layers", type=int, default=4, help="random model: layers")
    p.add_argument("--samples", type=int, default=0, help="ft-tui arm: sample generations every N steps")
    p.add_argument("--packing", action="store_true")
    p.add_argument("--peak-tflops", type=float, default=0.0,
                   help="the device's dense bf16 peak (H100 SXM: 989) to print model FLOPs utilisation")
    p.add_argument("--arm", choices=("ftui", "trl"), help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ----- setup shared by both arms ---------------------------------------------------------

def prepare(args, work: Path) -> Path:
    """Write the data, the model (unless a real one is named) and the run config."""
    from ft_tui.core.config.settings import RunConfig

    data = work / "train.jsonl"
    with open(data, "w", encoding="utf-8") as fh:
        for i in range(max(64, args.steps * args.batch // 2)):
            text, label = TICKETS[i % len(TICKETS)]
            fh.write(json.dumps({"messages": [
                {"role": "system", "content": "Classify the support ticket."},
                {"role": "user", "content": text.format(n=1000 + i)},
                {"role": "assistant", "content": label}]}) + "\n")
    model = args.model or str(build_model(work / "model", args.hidden, args.layers))
    cfg = RunConfig().with_overrides({
        "model.name": model, "method": args.method,
        "data.train_path": str(data), "data.eval_fraction": 0.05, "data.max_length": 256,
        "training.max_steps": args.steps, "training.batch_size": args.batch,
        "training.gradient_accumulation": 1, "training.learning_rate": 2e-4,
        "training.eval_steps": max(1, args.steps // 4), "training.save_steps": max(1, args.steps // 2),
        "training.sample_every_steps": args.samples, "training.packing": args.packing,
        "training.logging_steps": 1, "output_dir": str(work / "runs")})
    path = work / "run.yaml"
    cfg.save(path)
    return path


def build_model(folder: Path, hidden: int, layers: int) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.fixtures.tiny import build_tokenizer

    tok = build_tokenizer()
    heads = max(4, hidden // 64)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 4,
                         num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=max(1, heads // 2), max_position_embeddings=1024,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


# ----- the two arms (each in its own process) ------------------------------------------------

def run_ftui(cfg) -> dict:
    from ft_tui.core.run.events import RunStarted, StepLog
    from ft_tui.core.training import TrainingRunner

    marks = {"logs": []}

    def timing(event):
        if isinstance(event, RunStarted):
            marks["begin"] = time.perf_counter()
            marks["cpu_begin"] = time.process_time()
            marks["params"] = event.total_params
        elif isinstance(event, StepLog):
            marks["logs"].append(time.perf_counter())
            marks["cpu_end"] = time.process_time()
            marks["tokens"] = event.num_tokens

    _time_hooks(marks)
    finished = TrainingRunner(cfg, on_event=timing).run()
    assert finished.state == "done", finished.message
    return {**_result(marks), "hook_seconds": marks["hooks"]}


def _time_hooks(marks) -> None:
    """Add up the time spent inside ft-tui's callback (events, metrics.jsonl, status.json,
    watchdog, samples): a measure of the overhead that other jobs on the machine hardly
    disturb, since it is compared with the same run's own training time."""
    from ft_tui.core.training.callbacks import EventCallback

    marks["hooks"] = 0.0
    for name in ("on_train_begin", "on_step_end", "on_log", "on_save"):
        original = getattr(EventCallback, name)

        def timed(self, *a, _original=original, **kw):
            t = time.perf_counter()
            try:
                return _original(self, *a, **kw)
            finally:
                marks["hooks"] += time.perf_counter() - t

        setattr(EventCallback, name, timed)


def _result(marks) -> dict:
    times = [marks["begin"], *marks["logs"]]
    return {"seconds": times[-1] - times[0], "tokens": marks["tokens"], "params": marks["params"],
            "cpu_seconds": marks["cpu_end"] - marks["cpu_begin"],
            "step_times": [b - a for a, b in zip(times, times[1:])]}


def run_trl(cfg, work: Path) -> dict:
    """What a user would write with TRL directly, given the same SFTConfig."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback, set_seed
    from trl import SFTTrainer

    from ft_tui.core.models.resolve import prepare_model
    from ft_tui.core.quiet import quiet_libraries
    from ft_tui.core.training.builder import build_sft_config
    from ft_tui.core.objectives import load_training_data
    from ft_tui.core.plan.device import detect_device, resolve_precision

    quiet_libraries()
    device = detect_device()
    precision = resolve_precision(cfg, device)
    data = load_training_data(cfg)
    args = build_sft_config(cfg, work / "trl-checkpoints", precision, device, has_eval=True,
                            completion_only=data.shape == "prompt_completion")
    set_seed(cfg.training.seed)
    path = prepare_model(cfg.model.name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, precision.weights_dtype))
    if cfg.method != "full":
        model = get_peft_model(model, LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha,
                                                 lora_dropout=cfg.lora.dropout, task_type="CAUSAL_LM",
                                                 target_modules=cfg.lora_targets()))
    marks = {"logs": [], "params": sum(p.numel() for p in model.parameters())}

    class Timing(TrainerCallback):   # the same marks the ft-tui arm takes
        def on_train_begin(self, a, state, control, **kw):
            marks["begin"] = time.perf_counter()
            marks["cpu_begin"] = time.process_time()

        def on_log(self, a, state, control, logs=None, **kw):
            if "loss" in (logs or {}):
                marks["logs"].append(time.perf_counter())
                marks["cpu_end"] = time.process_time()
                marks["tokens"] = state.num_input_tokens_seen

    trainer = SFTTrainer(model=model, args=args, processing_class=tokenizer,
                         train_dataset=Dataset.from_list(data.train_rows),
                         eval_dataset=Dataset.from_list(data.eval_rows), callbacks=[Timing()])
    trainer.train()
    trainer.save_model(str(work / "trl-final"))
    return _result(marks)


def arm_main(args) -> None:
    from ft_tui.core.config.settings import RunConfig

    work = Path(args.workdir)
    cfg = RunConfig.load(work / "run.yaml")
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        cfg = cfg.with_overrides({"output_dir": tmp})
        result = run_ftui(cfg) if args.arm == "ftui" else run_trl(cfg, Path(tmp))
    print("RESULT " + json.dumps(result), flush=True)


# ----- driver -------------------------------------------------------------------------------

def main(argv=None) -> int:
    args = parse_args(argv)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    if args.arm:
        arm_main(args)
        return 0
    with tempfile.TemporaryDirectory(prefix="ft-tui-bench-") as tmp:
        work = Path(tmp)
        prepare(args, work)
        results: dict[str, list[float]] = {"ftui": [], "trl": []}
        steady: dict[str, list[float]] = {"ftui": [], "trl": []}
        per_cpu: dict[str, list[float]] = {"ftui": [], "trl": []}
        for r in range(args.rounds):
            order = ("ftui", "trl") if r % 2 == 0 else ("trl", "ftui")
            for arm in order:
                out = subprocess.run([sys.executable, __file__, "--arm", arm, "--workdir", tmp,
                                      "--device", args.device], capture_output=True, text=True, env=env)
                line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
                if line is None:
                    print(out.stdout[-2000:], out.stderr[-4000:], file=sys.stderr)
                    return 1
                res = json.loads(line[7:])
                tps = res["tokens"] / res["seconds"]
                # The median step is robust to bursts from other processes on a shared
                # machine; the wall-clock figure also counts rare costs (evals, saves).
                steady_tps = res["tokens"] / (statistics.median(res["step_times"]) * len(res["step_times"]))
                # CPU time is the least disturbed by other jobs on a shared CPU machine.
                cpu_tps = res["tokens"] / res["cpu_seconds"]
                results[arm].append(tps)
                steady[arm].append(steady_tps)
                per_cpu[arm].append(cpu_tps)
                hooks = (f", ft-tui callback {100 * res['hook_seconds'] / res['seconds']:.2f} % of it"
                         if "hook_seconds" in res else "")
                print(f"round {r + 1} {arm:4s}: {tps:8.0f} tokens/s wall, {steady_tps:8.0f} at the "
                      f"median step, {cpu_tps:8.0f} per CPU-second ({res['tokens']} tokens in "
                      f"{res['seconds']:.2f} s, {res['cpu_seconds']:.2f} CPU-s{hooks})", flush=True)
        print(f"\nmodel={args.model or f'random hidden={args.hidden} layers={args.layers}'} "
              f"method={args.method} device={args.device} steps={args.steps} batch={args.batch} "
              f"packing={args.packing} samples={args.samples}")
        if args.peak_tflops:
            # 6 N FLOPs per token for a full fine-tune; LoRA skips the frozen weights'
            # gradients (~4 N). Attention FLOPs are left out, as is usual for MFU.
            per_token = (6 if args.method == "full" else 4) * res["params"]
            for arm in ("ftui", "trl"):
                mfu = per_token * statistics.median(steady[arm]) / (args.peak_tflops * 1e12)
                print(f"MFU {arm}: {100 * mfu:.1f} % of {args.peak_tflops:g} TFLOP/s "
                      f"({res['params'] / 1e6:.0f}M parameters)")
        for name, table in (("wall clock", results), ("median step", steady), ("CPU time", per_cpu)):
            ftui, trl = statistics.median(table["ftui"]), statistics.median(table["trl"])
            pairs = [a / b for a, b in zip(table["ftui"], table["trl"])]
            print(f"{name:11s}: ft-tui {ftui:.0f} tokens/s, plain TRL {trl:.0f}, ratio {ftui / trl:.3f} "
                  f"(per round: {', '.join(f'{p:.3f}' for p in pairs)}; goal >= 0.97)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

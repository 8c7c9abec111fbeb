"""ft-tui's `auto` training settings against a plain TRL script with TRL's defaults.

Both arms train the default model (SmolLM2-135M-Instruct) with LoRA on the same
ticket-triage rows (sample_data/ticket_triage, built by ft-tui's data engine so both get
identical prompt/completion rows), the same hyperparameters and the same number of steps:

- "trl": AutoModelForCausalLM + get_peft_model + SFTTrainer, SFTConfig at TRL's defaults
  except what a CPU user must set (bf16=False: TRL's bf16 default is refused without a
  GPU), i.e. fp32, random batches padded to their longest row.
- "ftui": ft-tui's TrainingRunner with the defaults: `precision: auto` (bf16 autocast on
  a CPU with AVX512-BF16/AMX, else fp32), gradient checkpointing off (TRL 1.x turns it on
  by default), random batches (length grouping was the default until 2026-12-07).

Each run is a fresh subprocess and the arms alternate (A B, B A, ...) so a busy shared
machine hurts both alike. Throughput counts non-padding tokens (the Trainer's
``num_input_tokens_seen`` with ``include_num_input_tokens_seen="non_padding"`` in both
arms) over the span from train-begin to the last step's log; the eval loss on 40 held-out
tickets, after the last step, is the quality check.

    python tests/bench/cpu_speed.py                    # 2 rounds x 10 steps, batch 4
    python tests/bench/cpu_speed.py --rounds 3 --steps 20

Prints each run, then the median non-padding tokens/s of each arm, their ratio (goal >=
1.5) and both arms' eval losses.
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
DATA = ROOT / "sample_data" / "ticket_triage"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=2, help="pairs of runs (each arm once per round)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--eval-examples", type=int, default=40)
    p.add_argument("--arm", choices=("ftui", "trl"), help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def prepare(args, work: Path) -> Path:
    from ft_tui.core.config.settings import RunConfig

    evals = (DATA / "eval.jsonl").read_text(encoding="utf-8").splitlines()[:args.eval_examples]
    (work / "eval.jsonl").write_text("\n".join(evals) + "\n", encoding="utf-8")
    cfg = RunConfig().with_overrides({
        "data.train_path": str(DATA / "train.jsonl"), "data.eval_path": str(work / "eval.jsonl"),
        "data.max_length": 256,
        "training.max_steps": args.steps, "training.batch_size": args.batch,
        "training.gradient_accumulation": 1, "training.learning_rate": 1e-3,
        "training.eval_steps": args.steps, "training.max_eval_rows": 0,  # all eval rows, as TRL
        "training.save_steps": 10 * args.steps,
        "training.sample_every_steps": 0, "training.logging_steps": 1,
        "output_dir": str(work / "runs")})
    path = work / "run.yaml"
    cfg.save(path)
    return path


def run_ftui(cfg) -> dict:
    """Train ``cfg`` with ft-tui's TrainingRunner. Besides the totals of :func:`_result`, the
    result holds each step's loss and each evaluation as [step, eval loss]; its
    ``step_times`` and ``cpu_step_times`` (wall and process CPU seconds) leave out the time
    spent in evaluations, so a mid-run evaluation does not count as training time."""
    from ft_tui.core.run.events import EvalLog, RunStarted, StepLog
    from ft_tui.core.training import TrainingRunner

    marks: dict = {"logs": [], "losses": [], "evals": [], "step_times": [], "cpu_step_times": []}
    last = [0.0, 0.0]

    def timing(event):
        now = (time.perf_counter(), time.process_time())
        if isinstance(event, RunStarted):
            marks["begin"] = now[0]
            marks["device"] = event.device
        elif isinstance(event, StepLog):
            marks["logs"].append(now[0])
            marks["step_times"].append(now[0] - last[0])
            marks["cpu_step_times"].append(now[1] - last[1])
            marks["tokens"], marks["loss"] = event.num_tokens, event.loss
            marks["losses"].append(event.loss)
            marks["padding"] = event.padding_share
        elif isinstance(event, EvalLog):
            marks["eval_loss"] = event.eval_loss
            marks["evals"].append([event.step, event.eval_loss])
        else:
            return
        last[:] = now  # the next step's time starts after this step's log or this evaluation

    finished = TrainingRunner(cfg, on_event=timing).run()
    assert finished.state == "done", finished.message
    return _result(marks)


def run_trl(cfg, work: Path) -> dict:
    """What a user would write with TRL on a CPU: its defaults, bf16 switched off."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback, set_seed
    from trl import SFTConfig, SFTTrainer

    from ft_tui.core.models.resolve import prepare_model
    from ft_tui.core.quiet import quiet_libraries
    from ft_tui.core.objectives import load_training_data

    quiet_libraries()
    data = load_training_data(cfg)
    t = cfg.training
    args = SFTConfig(output_dir=str(work / "trl"), bf16=False, max_steps=t.max_steps,
                     per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=t.batch_size,
                     learning_rate=t.learning_rate, max_length=cfg.data.max_length,
                     eval_strategy="steps", eval_steps=t.eval_steps, save_strategy="no",
                     logging_steps=1, include_num_input_tokens_seen="non_padding", seed=t.seed,
                     report_to="none", disable_tqdm=True)
    set_seed(t.seed)
    path = prepare_model(cfg.model.name, log=lambda m: None)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha,
                                             lora_dropout=cfg.lora.dropout, task_type="CAUSAL_LM",
                                             target_modules=cfg.lora_targets()))
    marks: dict = {"logs": [], "device": "cpu, fp32 (TRL defaults, bf16=False)", "padding": None}

    class Timing(TrainerCallback):
        def on_train_begin(self, a, state, control, **kw):
            marks["begin"] = time.perf_counter()

        def on_log(self, a, state, control, logs=None, **kw):
            logs = logs or {}
            if "loss" in logs:
                marks["logs"].append(time.perf_counter())
                marks["tokens"], marks["loss"] = state.num_input_tokens_seen, logs["loss"]
            if "eval_loss" in logs:
                marks["eval_loss"] = logs["eval_loss"]

    trainer = SFTTrainer(model=model, args=args, processing_class=tokenizer,
                         train_dataset=Dataset.from_list(data.train_rows),
                         eval_dataset=Dataset.from_list(data.eval_rows), callbacks=[Timing()])
    trainer.train()
    return _result(marks)


def _result(marks) -> dict:
    times = [marks["begin"], *marks["logs"]]
    step_times = marks.get("step_times") or [b - a for a, b in zip(times, times[1:])]
    # The Trainer logs a step before it evaluates, and step_times leave evaluations out, so
    # the sum holds training steps only.
    return {**{k: v for k, v in marks.items() if k not in ("logs", "begin")},
            "seconds": sum(step_times), "tokens": marks["tokens"],
            "loss": marks["loss"], "eval_loss": marks.get("eval_loss"),
            "padding": marks.get("padding"), "device": marks["device"], "step_times": step_times}


def arm_main(args, overrides: dict | None = None) -> None:
    """One run in this (fresh) process: work/run.yaml with ``overrides``; prints a RESULT line."""
    from ft_tui.core.config.settings import RunConfig

    work = Path(args.workdir)
    cfg = RunConfig.load(work / "run.yaml")
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        cfg = cfg.with_overrides({**(overrides or {}), "output_dir": tmp})
        result = run_ftui(cfg) if args.arm == "ftui" else run_trl(cfg, Path(tmp))
    print("RESULT " + json.dumps(result), flush=True)


def spawn(script, *argv: str) -> dict | None:
    """Run ``script argv`` as a fresh CPU-only subprocess; its RESULT, or None (output shown)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True, env=env)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        print(out.stdout[-2000:], out.stderr[-4000:], file=sys.stderr)
        return None
    return json.loads(line[7:])


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.arm:
        arm_main(args)
        return 0
    with tempfile.TemporaryDirectory(prefix="ft-tui-cpu-speed-") as tmp:
        prepare(args, Path(tmp))
        tps: dict[str, list[float]] = {"ftui": [], "trl": []}
        evals: dict[str, list[float]] = {"ftui": [], "trl": []}
        for r in range(args.rounds):
            for arm in (("ftui", "trl") if r % 2 == 0 else ("trl", "ftui")):
                load = os.getloadavg()[0]
                res = spawn(__file__, "--arm", arm, "--workdir", tmp)
                if res is None:
                    return 1
                tps[arm].append(res["tokens"] / res["seconds"])
                evals[arm].append(res["eval_loss"])
                padding = "" if res["padding"] is None else f", padding {100 * res['padding']:.1f} %"
                print(f"round {r + 1} {arm:4s} [{res['device']}]: {tps[arm][-1]:6.1f} non-padding "
                      f"tokens/s ({res['tokens']} tokens, {res['seconds']:.1f} s of steps{padding}), "
                      f"last train loss {res['loss']:.4f}, eval loss {res['eval_loss']:.4f}, "
                      f"load {load:.1f}", flush=True)
        ftui, trl = statistics.median(tps["ftui"]), statistics.median(tps["trl"])
        pairs = [a / b for a, b in zip(tps["ftui"], tps["trl"])]
        print(f"\nsteps={args.steps} batch={args.batch} rounds={args.rounds} load now "
              f"{os.getloadavg()[0]:.1f}")
        print(f"non-padding tokens/s: ft-tui auto {ftui:.1f}, plain TRL {trl:.1f}, ratio "
              f"{ftui / trl:.2f} (per round: {', '.join(f'{p:.2f}' for p in pairs)}; goal >= 1.5)")
        print(f"eval loss: ft-tui {', '.join(f'{v:.4f}' for v in evals['ftui'])}; plain TRL "
              f"{', '.join(f'{v:.4f}' for v in evals['trl'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A long run's metrics.jsonl, written with the real event encoders (no training), for the
replay tests and tests/bench/dashboard_replay.py."""

import json
import math
from pathlib import Path

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.events import (Checkpoint, EvalLog, Phase, RunFinished, RunStarted, Samples,
                                    StepLog, TrainWarning)
from ft_tui.core.run.rundir import RunDir


def long_run_events(n_events: int = 20_000, run_dir: str = "runs/long") -> list:
    """``n_events`` events as a real run writes them: a start, a step log per step, an
    evaluation (with its phases) every 50 steps, samples and a checkpoint every 500, one
    warning, and the end as the last event."""
    total = n_events            # more steps than it will reach: a stopped run
    events = [RunStarted(run_dir=run_dir, total_steps=total, method="lora", model="default",
                         device="cpu", trainable_params=4_884_480, total_params=139_400_000)]
    step = 0
    while True:
        step += 1
        chunk = [StepLog(step=step, loss=2.4 * math.exp(-step / 4000) + 0.6,
                         learning_rate=2e-4 * (1 - step / total), grad_norm=1.0,
                         tokens_per_s=850.0, num_tokens=step * 512, eta_s=(total - step) * 2.0,
                         elapsed_s=step * 2.0, total_steps=total)]
        if step % 50 == 0:
            chunk += [Phase(step=step, phase="evaluating", done=0, total=32),
                      EvalLog(step=step, eval_loss=1.2 + step / 100_000),
                      Phase(step=step, phase="training")]
        if step % 500 == 0:
            chunk += [Samples(step=step, samples=[{"prompt": "I was charged twice.",
                                                   "output": "billing", "reference": "billing"}]),
                      Checkpoint(step=step, path=f"{run_dir}/checkpoints/checkpoint-{step}")]
        if step == 1000:
            chunk.append(TrainWarning(step=step, code="overfitting",
                                      message="eval loss rose for 2 evals while the training "
                                              "loss fell"))
        if len(events) + len(chunk) >= n_events:
            break
        events += chunk
    events.append(RunFinished("stopped", step - 1, f"stopped at step {step - 1}"))
    return events


def write_long_run(root: Path, n_events: int = 20_000, name: str = "long") -> RunDir:
    """A stopped run directory under root/runs/name holding ``n_events`` events."""
    run = RunDir(root / "runs" / name)
    run.path.mkdir(parents=True)
    run.save_config(RunConfig())
    events = long_run_events(n_events, f"runs/{name}")
    run.metrics_path.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in events))
    last = events[-1]
    run.status_path.write_text(json.dumps({"state": "stopped", "step": last.step,
                                           "total_steps": n_events, "message": last.message}))
    return run

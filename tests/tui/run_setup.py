"""A wizard state that trains the tiny test model on a few tickets, in a temp folder."""

from pathlib import Path

from ft_tui.core.config.settings import RunConfig
from ft_tui.tui.state import WizardState
from tests.fixtures.eval_run import TICKETS, write_chat_jsonl


def tiny_training_state(tmp_path: Path, model_dir: Path, current_step: str = "train",
                        **overrides) -> WizardState:
    """Config saved at tmp_path/ft-tui.yaml; runs go to tmp_path/runs. A few seconds a run."""
    data = write_chat_jsonl(tmp_path / "tickets.jsonl", TICKETS)
    settings = {
        "model.name": str(model_dir), "data.train_path": str(data), "data.eval_fraction": 0.25,
        "training.max_steps": 6, "training.eval_steps": 2, "training.sample_every_steps": 3,
        "training.save_steps": 3, "training.batch_size": 2, "training.gradient_accumulation": 1,
        "eval.max_new_tokens": 4, "output_dir": str(tmp_path / "runs"), "run_name": "tiny",
        **overrides,
    }
    state = WizardState(cfg=RunConfig().with_overrides(settings),
                        config_path=tmp_path / "ft-tui.yaml", current_step=current_step)
    state.save()
    return state


def write_replay_run(root: Path, name: str = "demo") -> Path:
    """A stopped run directory with fixed, made-up history (no training): 18 of 30 steps,
    evals, samples, an overfitting warning. Paths inside are relative to ``root``."""
    import json
    import math

    from ft_tui.core.run.rundir import RunDir

    run = RunDir(root / "runs" / name)
    run.path.mkdir(parents=True)
    run.save_config(RunConfig().with_overrides({"training.max_steps": 30}))
    events = [{"type": "start", "run_dir": f"runs/{name}", "total_steps": 30, "method": "lora",
               "model": "default", "device": "cpu", "trainable_params": 4_884_480,
               "total_params": 139_400_000}]
    for step in range(1, 19):
        lr = 2e-4 * (step / 2 if step < 2 else 0.5 * (1 + math.cos(math.pi * step / 30)))
        events.append({"type": "log", "step": step, "loss": round(2.4 * math.exp(-step / 8) + 0.6, 4),
                       "learning_rate": lr, "tokens_per_s": 850.0, "eta_s": (30 - step) * 2.0,
                       "elapsed_s": step * 2.0, "total_steps": 30})
        if step % 5 == 0:
            events.append({"type": "eval", "step": step, "eval_loss": round(1.2 + 0.02 * step, 4)})
        if step == 10:
            events.append({"type": "samples", "step": 10, "samples": [
                {"prompt": "I was charged twice.", "output": "billing", "reference": "billing"},
                {"prompt": "The printer is jammed.", "output": "account", "reference": "technical"}]})
            events.append({"type": "checkpoint", "step": 10, "path": f"runs/{name}/checkpoints/checkpoint-10"})
    events.append({"type": "warning", "step": 15, "code": "overfitting",
                   "message": "eval loss rose for 2 evals while the training loss fell"})
    events.append({"type": "end", "state": "stopped", "step": 18,
                   "message": f"stopped at step 18; resume with `ft-tui train --resume runs/{name}`"})
    run.metrics_path.write_text("".join(json.dumps(e) + "\n" for e in events))
    # No "updated" or "pid": the screen must not depend on the clock or the process.
    run.status_path.write_text(json.dumps({"state": "stopped", "step": 18, "total_steps": 30,
                                           "message": "stopped at step 18"}))
    return run.path

"""Continuity across a stop, a crash or ``kill -9``.

The Trainer's checkpoint restores weights, optimizer, scheduler, RNG and data position, and
its ``trainer_state.json`` carries the global step and the input-token count. What it does
not know about is our ``metrics.jsonl``: after a crash it can hold steps logged after the
last checkpoint, which the resumed run will log again. So before resuming we rewrite it,
atomically, keeping only what the checkpoint covers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ft_tui.core.atomic import atomic_write_text
from ft_tui.core.run.rundir import RunDir

# Markers kept whatever their step: they record the history of the run's sessions.
SESSION_MARKERS = ("start", "end")


def checkpoint_step(path: Path) -> int:
    m = re.fullmatch(r"checkpoint-(\d+)", Path(path).name)
    if not m:
        raise ValueError(f"{path}: not a checkpoint folder")
    return int(m.group(1))


def usable_checkpoint(run_dir: RunDir, skipped: list[str] | None = None) -> Path | None:
    """The newest checkpoint whose every file is whole (checkpoint_files.py): a kill -9 or
    a power cut during a save leaves the newest one torn; then the one before it is used.
    ``skipped`` gets one line per torn checkpoint passed over."""
    from ft_tui.core.training.checkpoint_files import checkpoint_problem

    if not run_dir.checkpoints_dir.is_dir():
        return None
    found = []
    for child in run_dir.checkpoints_dir.iterdir():
        try:
            found.append((checkpoint_step(child), child))
        except ValueError:
            continue
    for _, path in sorted(found, reverse=True):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        if skipped is not None:
            skipped.append(f"{path.name}: {problem}")
    return None


def finished_before(run_dir: RunDir) -> bool:
    """metrics.jsonl's last session ended "done": a finished run, whatever status.json says
    (a damaged one reads as "created")."""
    last = None
    for data in run_dir.iter_metric_dicts():
        if data.get("type") == "end":
            last = data.get("state")
    return last == "done"


def truncate_metrics(run_dir: RunDir, step: int) -> int:
    """Drop events logged after ``step``; returns how many lines were dropped."""
    kept: list[str] = []
    dropped = 0
    for data in run_dir.iter_metric_dicts():
        event_step = data.get("step")
        if data.get("type") in SESSION_MARKERS or event_step is None or event_step <= step:
            kept.append(json.dumps(data, ensure_ascii=False))
        else:
            dropped += 1
    atomic_write_text(run_dir.metrics_path, "".join(line + "\n" for line in kept))
    return dropped


@dataclass
class Carried:
    """What the previous sessions of a run leave for the next one."""

    elapsed_s: float = 0.0
    train_losses: list[tuple[int, float]] = field(default_factory=list)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)


def carried_from_metrics(run_dir: RunDir) -> Carried:
    carried = Carried()
    for data in run_dir.iter_metric_dicts():
        kind, step = data.get("type"), data.get("step")
        if kind == "log" and data.get("loss") is not None:
            carried.train_losses.append((step, data["loss"]))
            carried.elapsed_s = data.get("elapsed_s") or carried.elapsed_s
        elif kind == "eval" and data.get("eval_loss") is not None:
            carried.eval_losses.append((step, data["eval_loss"]))
    return carried

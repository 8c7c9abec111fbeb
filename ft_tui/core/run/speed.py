"""How fast training really went on this machine: the speed a plan quotes.

A run directory is the source of truth. Its ``metrics.jsonl`` starts (and, after a
resume, starts again) with a ``start`` record naming the model, method and device, and
every step log carries the non-padding tokens/s measured between two logs. The planner
asks for the newest run of the same model, method and device and scales its speed to the
tokens of the planned step; with none it must say that its figure is an estimate.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path

from ft_tui.core.run.follow import JsonlFollower
from ft_tui.core.run.listing import list_runs
from ft_tui.core.run.rundir import RunDir


@dataclass(frozen=True)
class MeasuredSpeed:
    run_dir: str
    tokens_per_s: float     # median of the step logs' non-padding tokens/s
    logs: int               # how many step logs it is the median of

    def seconds_for(self, tokens: float) -> float:
        """Seconds to train ``tokens`` tokens at this speed."""
        return tokens / self.tokens_per_s


def measured_speed(runs_dir: str | os.PathLike | None, *, model: str, method: str,
                   device: str) -> MeasuredSpeed | None:
    """The speed of the newest run under ``runs_dir`` that trained ``model`` (its config
    name, as the start record says) with ``method`` (the start record's label: "lora",
    "full", "dpo lora" ...) on ``device`` ("cpu" or "cuda"); None when no run measured one."""
    if runs_dir is None:
        return None
    for run in list_runs(runs_dir):   # newest first
        speed = run_speed(Path(run.path), model=model, method=method, device=device)
        if speed is not None:
            return speed
    return None


def run_speed(path: Path, *, model: str, method: str, device: str) -> MeasuredSpeed | None:
    """The median tokens/s logged since the run's last start, when that start matches."""
    _, records = JsonlFollower(RunDir(path).metrics_path).poll()
    start, speeds = None, []
    for record in records:
        if record.get("type") == "start":
            start, speeds = record, []   # a resume starts afresh: it may run elsewhere
        elif record.get("type") == "log" and start is not None:
            value = record.get("tokens_per_s")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                speeds.append(float(value))
    if start is None or not speeds:
        return None
    same = (start.get("model") == model and start.get("method") == method
            and str(start.get("device", "")).split(",")[0].strip() == device)
    return MeasuredSpeed(str(path), statistics.median(speeds), len(speeds)) if same else None

"""Every run under an output folder, with what a user asks first: is it still training?

    for run in list_runs("runs"):
        print(run.name, run.state, run.pid, run.step, run.total_steps, run.last_loss)

The state is ``RunDir.read_state``'s (running, done, stopped, failed, interrupted: status.json
says running but its process is gone, or created); ``pid`` only while it runs. The last
loss is read from the end of metrics.jsonl (its last 64 KB), so a long history costs
nothing; the eval verdict from eval.json. Used by ``ft-tui runs`` and the wizard.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ft_tui.core.run.rundir import RunDir

TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class RunSummary:
    name: str
    path: str
    state: str
    pid: int | None
    step: int
    total_steps: int | None
    last_loss: float | None
    verdict: str | None          # "beat the base model", "no clear gain", or None (not evaluated)
    updated: float | None        # when status.json was last written (epoch seconds)
    message: str

    def to_dict(self) -> dict:
        return asdict(self)

    def age_s(self, now: float | None = None) -> float | None:
        return None if self.updated is None else max(0.0, (now or time.time()) - self.updated)


def list_runs(output_dir: str | os.PathLike) -> list[RunSummary]:
    """The run directories directly under ``output_dir`` (those with a config.yaml),
    newest first. An absent folder has none."""
    base = Path(output_dir)
    if not base.is_dir():
        return []
    runs = []
    for child in base.iterdir():
        if child.is_dir() and (child / "config.yaml").is_file():
            runs.append(summarize(RunDir(child)))
    return sorted(runs, key=lambda r: r.updated or 0.0, reverse=True)


def summarize(run: RunDir) -> RunSummary:
    status = run.read_status()
    state = run.read_state()
    log = last_log(run)
    updated = status.get("updated")
    if updated is None:
        try:
            updated = run.config_path.stat().st_mtime
        except OSError:
            updated = None
    return RunSummary(
        name=run.path.name, path=str(run.path), state=state,
        pid=status.get("pid") if state == "running" else None,
        # status.json is rewritten every 10 s while training; metrics.jsonl has every step
        step=max(int(status.get("step") or 0), log[0] or 0), total_steps=status.get("total_steps") or None,
        last_loss=log[1], verdict=eval_verdict(run), updated=updated,
        message=str(status.get("message") or ""))


def last_log(run: RunDir) -> tuple[int | None, float | None]:
    """(step, training loss) of the last step logged, from the end of metrics.jsonl."""
    try:
        with open(run.metrics_path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - TAIL_BYTES))
            tail = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return None, None
    for line in reversed(tail.splitlines()):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue   # the first, cut line of the tail, or a damaged one
        if isinstance(record, dict) and record.get("type") == "log":
            loss, step = record.get("loss"), record.get("step")
            if isinstance(loss, (int, float)) and not isinstance(loss, bool):
                return (step if isinstance(step, int) else None), float(loss)
    return None, None


def eval_verdict(run: RunDir) -> str | None:
    try:
        report = json.loads(run.eval_path.read_text(encoding="utf-8"))
        beats = report["verdict"]["finetuned_beats_base"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    return "beat the base model" if beats is True else "no clear gain"

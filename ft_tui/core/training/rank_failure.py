"""Failures of one worker process among several, and which one came first.

In a launched run (``launch.py``) every rank trains, so any rank can fail. Each failing
rank writes, in the run directory,

- ``error.rank<R>.log``: its one-line cause and the full traceback;
- ``failure.rank<R>.json``: rank, step, cause and advice, for the launcher to read;

then exits non-zero at once, so that the launcher (torchrun's agent, under ``accelerate
launch``) ends the other ranks instead of leaving them waiting in a collective. The other
ranks then fail too ("Connection closed by peer"), later: the earliest record is the cause,
and the launcher names that rank and that cause in ``status.json`` and ``error.log``.
A rank killed by a signal (the kernel's out-of-memory killer: SIGKILL) writes nothing; the
launcher then finds it in torchrun's report of how each worker ended (``killed_rank``).

``FT_TUI_FAULT=RANK:STEP[:oom|error|kill]`` makes rank RANK fail at optimizer step STEP, to
prove the path above (tests/test_rank_failure.py); nothing sets it in normal use.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from ft_tui.core.atomic import atomic_write_json

FAULT_ENV = "FT_TUI_FAULT"
ERROR_LOG = "error.log"


def rank_log(run_path: Path, rank: int) -> Path:
    return Path(run_path) / f"error.rank{rank}.log"


def _record_path(run_path: Path, rank: int) -> Path:
    return Path(run_path) / f"failure.rank{rank}.json"


@dataclass(frozen=True)
class RankFailure:
    rank: int
    world_size: int
    step: int
    message: str
    advice: str
    time: float

    def summary(self) -> str:
        of = f" of {self.world_size}" if self.world_size > 1 else ""
        return f"rank {self.rank}{of} failed: {self.message}"


def record(run_path: Path, rank: int, world_size: int, finished, exc: BaseException | None) -> None:
    """Write this rank's failure (log and record). Never raises: the process is ending."""
    try:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) if exc else ""
        with open(rank_log(run_path, rank), "a", encoding="utf-8") as fh:
            fh.write(f"--- {stamp} rank {rank} of {world_size}, step {finished.step}: "
                     f"{finished.message}\n{text}\n")
        atomic_write_json(_record_path(run_path, rank), {
            "rank": rank, "world_size": world_size, "step": finished.step,
            "message": finished.message, "advice": finished.advice or "", "time": time.time()})
    except OSError:
        pass


def first_failure(run_path: Path, since: float = 0.0) -> RankFailure | None:
    """The earliest rank failure recorded in the run directory at or after ``since`` (a
    launch's start: older records are an earlier launch's), or None."""
    found = []
    for path in Path(run_path).glob("failure.rank*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(RankFailure(int(data["rank"]), int(data["world_size"]), int(data["step"]),
                                     str(data["message"]), str(data.get("advice") or ""),
                                     float(data["time"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    found = [f for f in found if f.time >= since]
    return min(found, key=lambda f: (f.time, f.rank)) if found else None


# torchrun's report of a worker that ended (torch/distributed/elastic/multiprocessing/errors):
#   rank      : 1 (local_rank: 1)
#   exitcode  : -9 (pid: 4242) SIGKILL
_ENDED = re.compile(r"rank\s*:\s*(\d+)\s*\(local_rank:\s*\d+\)\s*\n\s*exitcode\s*:\s*(-\d+)")
# Signals a worker does not get from the launcher (it ends the others with SIGTERM).
FATAL_SIGNALS = {signal.SIGKILL: "killed (SIGKILL): by `kill -9` or, most often, by the kernel's "
                 "out-of-memory killer when the machine ran out of RAM (`dmesg` says which)",
                 signal.SIGSEGV: "crashed (SIGSEGV, a segmentation fault in native code)",
                 signal.SIGBUS: "crashed (SIGBUS)", signal.SIGABRT: "aborted (SIGABRT)"}


def killed_rank(launcher_output: str, world_size: int = 0) -> RankFailure | None:
    """A rank that died by a fatal signal, from torchrun's report in the launcher's output.
    Such a rank writes no record of its own: this is the only trace of why it ended."""
    for match in _ENDED.finditer(launcher_output):
        rank, code = int(match.group(1)), int(match.group(2))
        try:
            why = FATAL_SIGNALS.get(signal.Signals(-code))
        except ValueError:
            why = None
        if why:
            return RankFailure(rank, world_size, 0, f"the process was {why}", "", time.time())
    return None


def clear(run_path: Path) -> None:
    """Forget the records of an earlier launch (a resume starts clean); the logs stay."""
    for path in Path(run_path).glob("failure.rank*.json"):
        path.unlink(missing_ok=True)


def forget_failed_rank(run_dir) -> None:
    """A new launch of the run: status.json no longer names the rank that failed last time
    (write_status keeps every key it does not set)."""
    status = run_dir.read_status()
    if "failed_rank" in status:
        status.pop("failed_rank")
        atomic_write_json(run_dir.status_path, status)


def write_summary(run_path: Path, failure: RankFailure) -> None:
    """error.log, the file a person opens first, names the rank and points at its log."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(Path(run_path) / ERROR_LOG, "a", encoding="utf-8") as fh:
        fh.write(f"--- {stamp}\n{failure.summary()} (at step {failure.step})\n"
                 f"traceback: {rank_log(run_path, failure.rank)}\n")
        try:
            fh.write(rank_log(run_path, failure.rank).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            pass


def add_fault_hook(trainer, rank: int) -> None:
    """With ``FT_TUI_FAULT`` set for this rank, a callback that fails at its step."""
    fault = Fault(rank)
    if fault.step is None:
        return
    from transformers import TrainerCallback

    class _FaultCallback(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            fault.at_step(state.global_step)

    trainer.add_callback(_FaultCallback())


def report(run_dir, failure: RankFailure):
    """Name ``failure`` as the run's outcome: status.json (``failed_rank``), error.log and a
    final RunFinished in metrics.jsonl. Rank 0's own end record, if any, said what it saw
    after the peer had gone ("Connection closed by peer"); this one says why."""
    from ft_tui.core.run.events import RunFinished

    status = run_dir.read_status()
    step = max(failure.step, int(status.get("step") or 0))
    finished = RunFinished("failed", step, failure.summary(), failure.advice)
    write_summary(run_dir.path, failure)
    run_dir.append_event(finished)
    run_dir.write_status("failed", step=step, message=finished.message, advice=finished.advice,
                         failed_rank=failure.rank)
    return finished


class Fault:
    """The test hook: ``FT_TUI_FAULT=1:2:oom`` fails rank 1 at step 2 with a simulated
    CUDA out-of-memory error (``error``: a plain RuntimeError; ``kill``: SIGKILL, as the
    kernel's out-of-memory killer ends a process)."""

    def __init__(self, rank: int, spec: str | None = None):
        spec = os.environ.get(FAULT_ENV, "") if spec is None else spec
        self.step = None
        parts = spec.split(":")
        if len(parts) >= 2 and parts[0].strip().isdigit() and int(parts[0]) == rank:
            try:
                self.step = int(parts[1])
            except ValueError:
                self.step = None
        self.kind = parts[2].strip() if len(parts) > 2 else "oom"
        self.rank = rank

    def at_step(self, step: int) -> None:
        if self.step is None or step < self.step:
            return
        self.step = None
        where = f"(simulated on rank {self.rank} at step {step} by {FAULT_ENV})"
        if self.kind == "kill":   # what the kernel's out-of-memory killer does
            os.kill(os.getpid(), signal.SIGKILL)
        if self.kind == "oom":
            import torch

            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate 2.00 GiB {where}")
        raise RuntimeError(f"injected failure {where}")

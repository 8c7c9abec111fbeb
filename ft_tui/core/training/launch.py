"""More than one process: ``accelerate launch`` as a subprocess, watched through the run dir.

With several GPUs visible (or ``--num-processes N``), ``ft-tui train`` does not train in
its own process. It prepares the run directory, starts

    python -m accelerate.commands.launch --multi_gpu --num_processes N ... \
        -m ft_tui.core.training.worker --run-dir RUN

in a new session (so Ctrl+C reaches only us), and follows ``metrics.jsonl`` and
``status.json`` exactly like the dashboard does. Every worker runs the same TrainingRunner;
only rank 0 writes events and status. A stop request is a ``STOP`` file in the run dir,
which the ranks agree on at a step boundary.

DDP copies the model to each GPU; FSDP shards it when the memory planner says it does not
fit one GPU. On CPU the same path runs with the gloo backend (that is how it is tested).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ft_tui.core.run.events import Event, RunFinished, event_from_dict
from ft_tui.core.run.follow import JsonlFollower
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training.runner import STOP_FILE

WORKER_LOG = "worker.log"
POLL_S = 0.25


@dataclass(frozen=True)
class LaunchPlan:
    num_processes: int
    strategy: str          # single | ddp | fsdp
    cpu: bool
    reason: str

    @property
    def distributed(self) -> bool:
        return self.num_processes > 1


def plan_launch(*, gpu_count: int, requested: int | None = None, force_cpu: bool = False,
                fits_one_gpu: bool | None = None) -> LaunchPlan:
    """How many processes, and DDP or FSDP. ``fits_one_gpu`` is the memory planner's verdict
    (None when it cannot say: DDP, the simpler choice)."""
    cpu = force_cpu or gpu_count == 0
    if requested is not None:
        n = requested
        why = f"--num-processes {requested}"
    elif not cpu and gpu_count > 1:
        n = gpu_count
        why = f"{gpu_count} GPUs visible"
    else:
        n = 1
        why = "one device"
    if n <= 1:
        return LaunchPlan(1, "single", cpu, why)
    if not cpu and fits_one_gpu is False:
        return LaunchPlan(n, "fsdp", cpu, f"{why}; the model does not fit one GPU, so FSDP shards it")
    return LaunchPlan(n, "ddp", cpu, f"{why}; each process holds a full copy (DDP)")


def model_fits_one_gpu(cfg) -> bool | None:
    """The memory planner's verdict for this config on the smallest visible GPU, or None
    when the planner or the GPU memory is not available."""
    try:
        from ft_tui.core.plan.hardware import probe
        from ft_tui.core.plan.memory import estimate_for
        from ft_tui.core.plan.model_profile import model_profile
    except ImportError:
        return None
    try:
        hw = probe(cfg.output_dir)
        if not hw.gpus:
            return None
        est = estimate_for(cfg, model_profile(cfg.model.name), "cuda")
        smallest = min(g.memory_total_gb for g in hw.gpus)
    except Exception:  # noqa: BLE001 - no verdict is a valid answer; DDP is the safe default
        return None
    return est.fits(smallest)


def launch_command(plan: LaunchPlan, run_dir: RunDir, *, resume: bool, mixed_precision: str = "no",
                   port: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "accelerate.commands.launch",
           "--num_processes", str(plan.num_processes), "--num_machines", "1",
           "--mixed_precision", mixed_precision, "--dynamo_backend", "no",
           "--main_process_port", str(port or free_port())]
    if plan.strategy == "fsdp":
        cmd += ["--use_fsdp", "--fsdp_version", "2", "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP",
                "--fsdp_state_dict_type", "FULL_STATE_DICT", "--fsdp_cpu_ram_efficient_loading", "true",
                "--fsdp_reshard_after_forward", "true"]
    else:
        # accelerate's --cpu means "one process unless mpirun"; --multi_gpu is its torchrun
        # launcher, which also starts CPU processes (the worker then picks gloo).
        cmd += ["--multi_gpu"]
    cmd += ["-m", "ft_tui.core.training.worker", "--run-dir", str(run_dir.path)]
    if resume:
        cmd.append("--resume")
    if plan.cpu:
        cmd.append("--cpu")
    return cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LaunchedRun:
    """A training run in worker processes, followed through its run directory."""

    def __init__(self, run_dir: RunDir, command: list[str], *, env: dict | None = None):
        self.run_dir = run_dir
        self.command = command
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.follower = JsonlFollower(run_dir.metrics_path)
        self._last_end: RunFinished | None = None

    def start(self) -> None:
        try:
            (self.run_dir.path / STOP_FILE).unlink()
        except FileNotFoundError:
            pass
        # Only events written from now on are new: the rest is history the caller has.
        self.follower.skip_to_end()
        log = open(self.run_dir.path / WORKER_LOG, "ab")
        with log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env,
                                         start_new_session=True)

    def request_stop(self) -> None:
        """Graceful: the workers checkpoint at the next step, then exit."""
        (self.run_dir.path / STOP_FILE).touch()

    def abort(self) -> None:
        """Second Ctrl+C: end the workers now, without a checkpoint."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def poll_events(self) -> list[Event]:
        """Events appended since the last call (whole lines only). A metrics file that was
        replaced or cut is read again from its start."""
        events = []
        _, records = self.follower.poll()
        for record in records:
            event = event_from_dict(record)
            if event is not None:
                events.append(event)
                if isinstance(event, RunFinished):
                    self._last_end = event
        return events

    def wait(self, on_event: Callable[[Event], None]) -> RunFinished:
        assert self.proc is not None, "start() first"
        while True:
            done = self.proc.poll() is not None
            for event in self.poll_events():
                on_event(event)
            if done and self.follower.caught_up:
                break
            time.sleep(POLL_S)
        return self._outcome(self.proc.returncode)

    def _outcome(self, code: int) -> RunFinished:
        if self._last_end is not None:
            return self._last_end
        # The workers died without a word (killed, segfault, launcher error): say so.
        log = self.run_dir.path / WORKER_LOG
        status = self.run_dir.read_status()
        state = "stopped" if code in (-signal.SIGTERM, -signal.SIGKILL, 130) else "failed"
        finished = RunFinished(state, int(status.get("step") or 0),
                               f"worker processes exited with code {code}; see {log}"
                               f" ({_last_line(log)})")
        self.run_dir.append_event(finished)
        self.run_dir.write_status(state, message=finished.message)
        return finished


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except FileNotFoundError:
        return "no log"
    return lines[-1][:200] if lines else "empty log"

"""More than one process: ``accelerate launch`` as a subprocess, watched through the run dir.

With several GPUs visible (or ``--num-processes N``), ``ft-tui train`` does not train in
its own process. It prepares the run directory, writes the run's own accelerate config
(``RUN/accelerate.yaml``: a saved ``~/.cache/huggingface/accelerate/default_config.yaml``
plays no part), starts

    [env CUDA_VISIBLE_DEVICES=...] python -m accelerate.commands.launch \
        --config_file RUN/accelerate.yaml -m ft_tui.core.training.worker --run-dir RUN

in a new session (so Ctrl+C reaches only us), and follows ``metrics.jsonl`` and
``status.json`` exactly like the dashboard does. Every worker runs the same TrainingRunner;
only rank 0 writes events and status; any rank that fails says so (``rank_failure.py``)
and the run ends with its name. A stop request is a ``STOP`` file in the run dir, which
the ranks agree on at a step boundary.

DDP copies the model to each GPU; FSDP2 shards weights, gradients and optimizer states when
those are what does not fit one GPU (``core/plan/sharding.py``). On CPU the same path runs
with the gloo backend (that is how it is tested; accelerate has no FSDP on the CPU).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ft_tui.core.run.events import Event, RunFinished, event_from_dict
from ft_tui.core.run.follow import JsonlFollower
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training import rank_failure
from ft_tui.core.training.runner import STOP_FILE

WORKER_LOG = "worker.log"
POLL_S = 0.25


ACCELERATE_CONFIG = "accelerate.yaml"   # run-local: a saved `accelerate config` cannot change a launch


@dataclass(frozen=True)
class LaunchPlan:
    num_processes: int
    strategy: str          # single | ddp | fsdp
    cpu: bool
    reason: str
    # The GPUs the run may use (NVML / PCI-bus indices), pinned with CUDA_VISIBLE_DEVICES;
    # None: leave what is visible alone (CPU, one GPU, or the user's own CUDA_VISIBLE_DEVICES).
    gpus: tuple[int, ...] | None = None

    @property
    def distributed(self) -> bool:
        """Runs in worker processes started by ``accelerate launch`` (several, or one pinned
        GPU of several: in this process the Trainer would take every visible GPU with
        ``nn.DataParallel``)."""
        return self.num_processes > 1 or self.gpus is not None

    def env(self) -> dict[str, str]:
        """The launch's environment: the pinned GPUs, numbered as NVML numbers them."""
        if self.gpus is None:
            return {}
        return {"CUDA_DEVICE_ORDER": "PCI_BUS_ID",
                "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in self.gpus)}


def plan_launch(*, gpu_count: int, requested: int | None = None, force_cpu: bool = False,
                sharding=None, gpus: tuple[int, ...] | None = None) -> LaunchPlan:
    """How many processes, and DDP or FSDP. ``sharding`` is ``core/plan/sharding.decide``'s
    verdict (None when the planner cannot say: DDP, the simpler choice); ``gpus`` the GPUs
    to pin (``choose_gpus``)."""
    cpu = force_cpu or gpu_count == 0
    gpus = None if cpu else gpus
    if requested is not None:
        n = requested
        why = f"--num-processes {requested}"
    elif not cpu and gpu_count > 1:
        n = gpu_count
        why = f"{gpu_count} GPUs"
    else:
        n = 1
        why = "one device"
    if n <= 1:
        pinned = f"; pinned to GPU {gpus[0]} (CUDA_VISIBLE_DEVICES)" if gpus else ""
        return LaunchPlan(1, "single", cpu, why + pinned, gpus[:1] if gpus else None)
    if not cpu and sharding is not None and sharding.strategy == "fsdp":
        return LaunchPlan(n, "fsdp", cpu, f"{why}; {sharding.reason}", gpus)
    detail = sharding.reason if sharding is not None and not cpu else "each process holds a full copy (DDP)"
    return LaunchPlan(n, "ddp", cpu, f"{why}; {detail}", gpus)


def plan_for(cfg, device, *, requested: int | None = None, force_cpu: bool = False) -> LaunchPlan:
    """The launch of ``cfg`` on this machine: how many processes, on which GPUs (pinned),
    DDP or FSDP. Raises SetupError when the planner refuses (QLoRA that only sharding would
    fit: ``core/plan/sharding.py``)."""
    from ft_tui.core.errors import SetupError

    gpu_count = 0 if force_cpu else device.gpu_count
    if gpu_count <= 1:
        return plan_launch(gpu_count=gpu_count, requested=requested, force_cpu=force_cpu)
    gpus, est = _gpus_and_estimate(cfg)
    if requested is not None and requested > gpu_count:
        raise SetupError(f"--num-processes {requested}: this machine has {gpu_count} GPUs; ask "
                         f"for at most {gpu_count} (or add --cpu to train on the CPU)")
    chosen, left_out = choose_gpus(gpus, requested)
    n = requested or len(chosen) or gpu_count
    sharding = None
    if est is not None and chosen and n > 1:
        from ft_tui.core.plan.sharding import decide

        sharding = decide(est, min(g.free_gb for g in chosen), n)
        if sharding.strategy == "refuse":
            raise SetupError(f"{n} GPUs: {sharding.reason}")
    pinned = tuple(g.index for g in chosen) if chosen else (0,) if n == 1 else None
    plan = plan_launch(gpu_count=len(chosen) or gpu_count, requested=requested, sharding=sharding,
                       gpus=pinned)
    if left_out:
        plan = replace(plan, reason=f"{plan.reason}; left out: {'; '.join(left_out)}")
    return plan


BUSY_SHARE = 0.15   # another process holds more than this share of a GPU's memory: busy


def choose_gpus(gpus: list, n: int | None = None) -> tuple[list, list[str]]:
    """The GPUs a run uses, and why the others are left out: GPUs of one model only (a slower
    or smaller card would hold every DDP step back), not busy (another process holds more
    than BUSY_SHARE of its memory), the ones with most memory free first. ``n``: how many
    (--num-processes); None: every free GPU of that model (all of them when all are busy).
    ([], []) when there is nothing to choose from or the user's CUDA_VISIBLE_DEVICES names
    GPUs by UUID (it already pins them)."""
    raw = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    if not gpus or any(not part.strip().lstrip("-").isdigit() for part in raw.split(",") if part.strip()):
        return [], []
    by_name: dict[str, list] = {}
    for gpu in gpus:
        by_name.setdefault(gpu.name, []).append(gpu)
    model = max(by_name, key=lambda name: (len(by_name[name]), sum(g.free_gb for g in by_name[name])))
    alike = sorted(by_name[model], key=lambda g: (-g.free_gb, g.index))
    free = [g for g in alike if g.used_gb <= BUSY_SHARE * g.total_gb]
    busy = [g for g in alike if g not in free]
    others = sorted((g for g in gpus if g.name != model), key=lambda g: (-g.free_gb, g.index))
    if n is None:
        n = len(free) or len(alike)
    chosen = (free + busy + others)[:n]
    why = []
    for gpu in gpus:
        if gpu in chosen:
            continue
        if gpu.name != model:
            why.append(f"GPU {gpu.index} ({gpu.name}, not {model})")
        elif gpu in busy:
            why.append(f"GPU {gpu.index} (busy: {gpu.used_gb:.1f} of {gpu.total_gb:.1f} GB in use)")
        else:
            why.append(f"GPU {gpu.index} (not needed)")
    return sorted(chosen, key=lambda g: g.index), why


def _gpus_and_estimate(cfg):
    """(the visible GPUs as NVML sees them, the memory planner's estimate of one process),
    each [] / None when it cannot be had."""
    try:
        from ft_tui.core.plan.hardware import probe
        from ft_tui.core.plan.memory import estimate_for
        from ft_tui.core.plan.model_profile import model_profile
    except ImportError:
        return [], None
    try:
        gpus = probe(cfg.output_dir).gpus
    except Exception:  # noqa: BLE001 - no GPU list: nothing pinned, accelerate sees what CUDA sees
        gpus = []
    try:
        est = estimate_for(cfg, model_profile(cfg.model.name), "cuda")
    except Exception:  # noqa: BLE001 - no verdict is a valid answer; DDP is the safe default
        est = None
    return gpus, est


# FSDP2 as TRL's docs configure it (accelerate's config keys; accelerate/commands/config).
FSDP2_CONFIG = {
    "fsdp_version": 2,
    "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
    "fsdp_state_dict_type": "FULL_STATE_DICT",
    "fsdp_cpu_ram_efficient_loading": True,
    "fsdp_offload_params": False,
    "fsdp_reshard_after_forward": True,
    "fsdp_activation_checkpointing": False,   # the Trainer's gradient_checkpointing decides
}


def accelerate_config(plan: LaunchPlan, *, mixed_precision: str = "no", num_machines: int = 1,
                      port: int | None = None) -> dict:
    """The complete accelerate config of a launch: every key accelerate would otherwise take
    from ``~/.cache/huggingface/accelerate/default_config.yaml``. ``num_processes`` counts
    every process on every machine, as accelerate wants."""
    if plan.strategy == "fsdp":
        kind = "FSDP"
    elif plan.num_processes * num_machines > 1:
        # accelerate's "cpu" means "one process unless mpirun"; MULTI_GPU is its torchrun
        # launcher, which also starts CPU processes (the worker then picks gloo).
        kind = "MULTI_GPU"
    else:
        kind = "NO"
    config = {
        "compute_environment": "LOCAL_MACHINE", "distributed_type": kind,
        "num_processes": plan.num_processes * num_machines, "num_machines": num_machines,
        "machine_rank": 0, "gpu_ids": "all", "mixed_precision": mixed_precision,
        "use_cpu": False, "debug": False, "rdzv_backend": "static", "same_network": True,
        "main_training_function": "main", "enable_cpu_affinity": False, "downcast_bf16": "no",
        "tpu_use_cluster": False, "tpu_use_sudo": False,
    }
    if port is not None:
        config["main_process_port"] = port
    if kind == "FSDP":
        config["fsdp_config"] = dict(FSDP2_CONFIG)
    return config


def write_accelerate_config(path: Path, config: dict) -> Path:
    import yaml

    from ft_tui.core.atomic import atomic_write_text

    header = ("# Written by ft-tui for this run; `accelerate launch --config_file` reads it, so\n"
              "# ~/.cache/huggingface/accelerate/default_config.yaml plays no part.\n")
    return atomic_write_text(path, header + yaml.safe_dump(config, sort_keys=False))


def worker_args(run_dir: RunDir, *, resume: bool, cpu: bool) -> list[str]:
    """The worker module and its arguments, after ``accelerate launch [options]``."""
    args = ["-m", "ft_tui.core.training.worker", "--run-dir", str(run_dir.path)]
    if resume:
        args.append("--resume")
    if cpu:
        args.append("--cpu")
    return args


def launch_command(plan: LaunchPlan, run_dir: RunDir, *, resume: bool, mixed_precision: str = "no",
                   port: int | None = None) -> list[str]:
    """``accelerate launch --config_file RUN/accelerate.yaml ...``, writing that config."""
    port = port or free_port()
    config = write_accelerate_config(run_dir.path / ACCELERATE_CONFIG,
                                     accelerate_config(plan, mixed_precision=mixed_precision, port=port))
    pinned = [f"{k}={v}" for k, v in plan.env().items()]
    return [*(["env", *pinned] if pinned else []),
            sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
            "--main_process_port", str(port), *worker_args(run_dir, resume=resume, cpu=plan.cpu)]


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
        rank_failure.clear(self.run_dir.path)
        rank_failure.forget_failed_rank(self.run_dir)
        # Only events written from now on are new: the rest is history the caller has.
        self.follower.skip_to_end()
        log = open(self.run_dir.path / WORKER_LOG, "ab")
        self._log_start = log.tell()   # this launch's output starts here
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
        """Follow the run to its end; ``on_event`` hears every event, and the outcome
        (one RunFinished) last: rank 0's own, or the first failing rank's."""
        assert self.proc is not None, "start() first"
        while True:
            done = self.proc.poll() is not None
            for event in self.poll_events():
                if not isinstance(event, RunFinished):
                    on_event(event)
            if done and self.follower.caught_up:
                break
            time.sleep(POLL_S)
        finished = self._outcome(self.proc.returncode)
        on_event(finished)
        return finished

    def _killed_rank(self) -> rank_failure.RankFailure | None:
        try:
            with open(self.run_dir.path / WORKER_LOG, "rb") as fh:
                fh.seek(getattr(self, "_log_start", 0))
                text = fh.read().decode("utf-8", errors="replace")
        except OSError:
            return None
        return rank_failure.killed_rank(text)

    def _outcome(self, code: int) -> RunFinished:
        first = rank_failure.first_failure(self.run_dir.path) if code != 0 else None
        killed = self._killed_rank() if code != 0 else None
        if killed is not None and (first is None or first.rank != killed.rank):
            first = killed    # it left no record: the others only saw it go
        if first is not None:
            status = self.run_dir.read_status()
            if status.get("state") == "failed" and status.get("failed_rank") == first.rank:
                # Rank 0 lived long enough to name it (worker.py): once is enough.
                return RunFinished("failed", int(status.get("step") or 0),
                                   str(status.get("message") or ""), str(status.get("advice") or ""))
            return rank_failure.report(self.run_dir, first)
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

"""Starting a training run: the one piece of orchestration the CLI and the wizard share.

:func:`start_run` decides, with the launch planner (``launch.plan_launch``), whether the run
trains in this process (``TrainingRunner``) or in several worker processes started with
``accelerate launch`` (``LaunchedRun``: DDP, or FSDP when what FSDP shards does not fit one GPU),
prepares the run directory (created or resumed, locked, config and status written), and
returns a :class:`Session`. ``Session.run()`` blocks until the run ends (call it from a
worker thread in a UI) and reports every event to ``on_event`` either way.

Without this, the wizard trained in one process always, and on a multi-GPU machine the
Trainer then wrapped the model in ``nn.DataParallel`` instead of the planner's choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ft_tui.core.run.events import Event, RunFinished
from ft_tui.core.run.rundir import RunDir


class Session:
    """A started run: in this process (``runner``) or in launched workers (``launched``)."""

    def __init__(self, run_dir: RunDir, plan, *, runner=None, launched=None, lock=None):
        self.run_dir = run_dir
        self.plan = plan
        self.runner = runner
        self.launched = launched
        self._lock = lock

    @property
    def distributed(self) -> bool:
        return self.launched is not None

    def run(self, on_event: Callable[[Event], None] | None = None) -> RunFinished:
        if self.runner is not None:
            return self.runner.run()
        try:
            self.launched.start()
            return self.launched.wait(on_event or (lambda event: None))
        finally:
            if self._lock is not None:
                self._lock.release()

    def request_stop(self) -> None:
        """Graceful: a checkpoint at the next step, then the run ends."""
        (self.runner or self.launched).request_stop()

    def abort(self) -> None:
        """End the worker processes now (no checkpoint). In-process runs are aborted by
        raising KeyboardInterrupt in the thread that runs them."""
        if self.launched is not None:
            self.launched.abort()


def start_run(cfg, *, resume: str | Path | None = None, on_event: Callable[[Event], None] | None = None,
              num_processes: int | None = None, force_cpu: bool = False, device=None,
              moved_data: dict[str, str] | None = None, run_dir: RunDir | None = None) -> Session:
    """Plan and prepare a run of ``cfg`` (or continue the run directory ``resume``, with
    its own config; ``moved_data`` says where its data files are now). ``run_dir``: the
    directory ``prepare_run_dir`` already made for ``cfg`` (a detached run's trainer).
    Raises RunInUse / SetupError / RunDirError / ConfigError / OSError before any training
    when it cannot start."""
    from ft_tui.core.plan.device import detect_device
    from ft_tui.core.training.launch import plan_for

    device = device or detect_device()
    if resume is not None:
        cfg = RunDir.open(resume).load_config()   # resume_runner checks its data, under the lock
    else:
        check_model(cfg)   # a hub model that cannot be had: before the run directory
    plan = plan_for(cfg, device, requested=num_processes, force_cpu=force_cpu)
    if not plan.distributed:
        from ft_tui.core.training.runner import STOP_FILE, TrainingRunner, resume_runner

        if resume is not None:
            runner = resume_runner(resume, on_event=on_event, moved_data=moved_data)
        else:
            runner = TrainingRunner(cfg, run_dir, on_event=on_event)
        if run_dir is None:   # (a detached trainer's starter cleared it, and may stop it now)
            # A STOP an earlier session left must not end this one at once.
            (runner.run_dir.path / STOP_FILE).unlink(missing_ok=True)
        return Session(runner.run_dir, plan, runner=runner)
    return _launched(cfg, resume, plan, device, on_event, moved_data, run_dir)


def prepare_run_dir(cfg, *, resume: str | Path | None = None,
                    moved_data: dict[str, str] | None = None) -> RunDir:
    """What ``start_run`` checks and makes before training, for a trainer that another
    process runs (core/training/detach.py): a new run directory with ``cfg`` saved, or
    ``resume``'s, checked (not finished, its data there) under its lock, released after."""
    from ft_tui.core.run.lock import RunLock
    from ft_tui.core.objectives import default_run_name
    from ft_tui.core.training.runner import resume_runner

    if resume is not None:
        holder = resume_runner(resume, moved_data=moved_data)
        holder._lock.release()
        return holder.run_dir
    check_model(cfg)
    run_dir = RunDir.create(cfg.output_dir, cfg.run_name or default_run_name(cfg))
    with RunLock(run_dir.path, "starting"):
        run_dir.save_config(cfg)
    return run_dir


def check_model(cfg) -> None:
    """SetupError ("model.name: ...") when the run's model cannot be had here; loads nothing."""
    from ft_tui.core.models.resolve import ModelNotFound, available_model
    from ft_tui.core.errors import SetupError

    try:
        available_model(cfg.model.name, revision=cfg.model.revision, offline=cfg.model.offline)
    except ModelNotFound as exc:
        raise SetupError(f"model.name: {exc}") from None


def _launched(cfg, resume, plan, device, on_event, moved_data=None, made=None) -> Session:
    from ft_tui.core.run.lock import RunLock
    from ft_tui.core.objectives import default_run_name
    from ft_tui.core.plan.device import resolve_precision
    from ft_tui.core.training.launch import LaunchedRun, launch_command
    from ft_tui.core.training.resume import checkpoint_step, truncate_metrics, usable_checkpoint
    from ft_tui.core.training.runner import resume_runner

    if resume is not None:
        holder = resume_runner(resume, moved_data=moved_data)   # same checks (and lock) as a local resume
        run_dir, lock = holder.run_dir, holder._lock
        checkpoint = usable_checkpoint(run_dir)
        truncate_metrics(run_dir, checkpoint_step(checkpoint) if checkpoint else 0)
    else:
        run_dir = made or RunDir.create(cfg.output_dir, cfg.run_name or default_run_name(cfg))
        lock = RunLock(run_dir.path, "training").acquire()   # the workers do not lock
        run_dir.save_config(cfg)
    try:
        run_dir.write_status("running", message=f"launching {plan.num_processes} processes")
        # CPU-only machines: the workers' bf16 autocast where the CPU has it (the SFTConfig's
        # bf16 decides either way; this keeps the launcher's flag saying the same).
        mode = "no" if plan.cpu and device.cuda else resolve_precision(cfg, device).mode
        command = launch_command(plan, run_dir, resume=resume is not None,
                                 mixed_precision={"fp32": "no"}.get(mode, mode))
    except BaseException:
        lock.release()
        raise
    return Session(run_dir, plan, launched=LaunchedRun(run_dir, command), lock=lock)

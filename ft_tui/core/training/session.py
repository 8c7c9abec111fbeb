"""Starting a training run: the one piece of orchestration the CLI and the wizard share.

:func:`start_run` decides, with the launch planner (``launch.plan_launch``), whether the run
trains in this process (``TrainingRunner``) or in several worker processes started with
``accelerate launch`` (``LaunchedRun``: DDP, or FSDP when the model does not fit one GPU),
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
              moved_data: dict[str, str] | None = None) -> Session:
    """Plan and prepare a run of ``cfg`` (or continue the run directory ``resume``, with
    its own config; ``moved_data`` says where its data files are now). Raises RunInUse /
    SetupError / RunDirError / ConfigError / OSError before any training when it cannot
    start."""
    from ft_tui.core.training.device import detect_device
    from ft_tui.core.training.launch import model_fits_one_gpu, plan_launch

    device = device or detect_device()
    if resume is not None:
        cfg = RunDir.open(resume).load_config()   # resume_runner checks its data, under the lock
    else:
        check_model(cfg)   # a hub model that cannot be had: before the run directory
    fits = model_fits_one_gpu(cfg) if device.gpu_count > 1 else None
    plan = plan_launch(gpu_count=device.gpu_count, requested=num_processes,
                       force_cpu=force_cpu, fits_one_gpu=fits)
    if not plan.distributed:
        from ft_tui.core.training.runner import TrainingRunner, resume_runner

        if resume is not None:
            runner = resume_runner(resume, on_event=on_event, moved_data=moved_data)
        else:
            runner = TrainingRunner(cfg, on_event=on_event)
        return Session(runner.run_dir, plan, runner=runner)
    return _launched(cfg, resume, plan, device, on_event, moved_data)


def check_model(cfg) -> None:
    """SetupError ("model.name: ...") when the run's model cannot be had here; loads nothing."""
    from ft_tui.core.models.resolve import ModelNotFound, available_model
    from ft_tui.core.errors import SetupError

    try:
        available_model(cfg.model.name)
    except ModelNotFound as exc:
        raise SetupError(f"model.name: {exc}") from None


def _launched(cfg, resume, plan, device, on_event, moved_data=None) -> Session:
    from ft_tui.core.run.lock import RunLock
    from ft_tui.core.objectives import default_run_name
    from ft_tui.core.training.device import resolve_precision
    from ft_tui.core.training.launch import LaunchedRun, launch_command
    from ft_tui.core.training.resume import checkpoint_step, truncate_metrics, usable_checkpoint
    from ft_tui.core.training.runner import resume_runner

    if resume is not None:
        holder = resume_runner(resume, moved_data=moved_data)   # same checks (and lock) as a local resume
        run_dir, lock = holder.run_dir, holder._lock
        checkpoint = usable_checkpoint(run_dir)
        truncate_metrics(run_dir, checkpoint_step(checkpoint) if checkpoint else 0)
    else:
        run_dir = RunDir.create(cfg.output_dir, cfg.run_name or default_run_name(cfg))
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

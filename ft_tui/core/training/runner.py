"""TrainingRunner: one training run, start to finish, reported through typed events.

    runner = TrainingRunner(cfg, on_event=print)
    finished = runner.run()            # blocks; the TUI calls it from a thread worker
    runner.request_stop()              # from any thread: checkpoint, then stop

Every event goes to ``on_event`` (keep it cheap: it runs on the training thread), to the
``events`` queue, and to ``metrics.jsonl`` in the run directory; ``status.json`` follows
the run through running -> done | stopped | failed. This module imports no heavy library
at import time, so the UI can import it freely.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from ft_tui.core.atomic import replace_dir
from ft_tui.core.config.names import shell_quote
from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.events import Event, RunFinished, TrainWarning
from ft_tui.core.run.lock import RunInUse, RunLock
from ft_tui.core.objectives import default_run_name
from ft_tui.core.run.rundir import RunDir, RunDirError
from ft_tui.core.training.dataset import eval_subset
from ft_tui.core.errors import SetupError

# status.json is state, not progress (metrics.jsonl has every step): rewriting it
# atomically, with an fsync, every 10 s keeps it fresh enough for `ft-tui monitor`.
STATUS_EVERY_S = 10.0
STOP_FILE = "STOP"     # a launcher asks its worker processes to stop by creating this file


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


class TrainingRunner:
    def __init__(self, cfg: RunConfig, run_dir: RunDir | None = None, *, resume: bool = False,
                 on_event: Callable[[Event], None] | None = None, lock: RunLock | None = None,
                 hold_lock: bool = True):
        """``lock``: the run's lock, already held (resume_runner takes it before it reads the
        status); otherwise one is taken here. ``hold_lock=False`` for the worker processes of
        a launched run, whose launcher holds it. Raises RunInUse when another process has it."""
        self.cfg = cfg
        self.resume = resume
        self.on_event = on_event
        self.events: queue.Queue[Event] = queue.Queue()
        if run_dir is None:
            run_dir = RunDir.create(cfg.output_dir, cfg.run_name or default_run_name(cfg))
        self.run_dir = run_dir
        if lock is None and hold_lock:
            lock = RunLock(run_dir.path, "training").acquire()
        self._lock = lock
        self.main = is_main_process()
        self.rank = int(os.environ.get("RANK", "0"))
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self._exc: BaseException | None = None
        self._stop = threading.Event()
        self._step = 0
        self._total = 0
        self._last_status = 0.0
        self._finished: RunFinished | None = None
        self._metrics = _MetricsLog(run_dir)
        self._trainable = 0
        if self.main:
            from ft_tui.core.space import keep_reserve

            keep_reserve(run_dir.path)   # room for status.json if the disk fills up

    # ----- public ----------------------------------------------------------------------
    def request_stop(self) -> None:
        """Graceful stop: the next step boundary writes a checkpoint, then training ends."""
        self._stop.set()

    def stop_requested(self) -> bool:
        if self._stop.is_set():
            return True
        # The STOP file: how a launcher, the wizard or `ft-tui monitor` reach a trainer
        # that runs in another process (core/training/detach.py, launch.py).
        if (self.run_dir.path / STOP_FILE).exists():
            self._stop.set()
        return self._stop.is_set()

    def run(self) -> RunFinished:
        try:
            finished = self._run()
        except KeyboardInterrupt:
            finished = RunFinished("stopped", self._step, "aborted without a checkpoint; resume "
                                   "continues from the last one")
        except SetupError as exc:
            finished = RunFinished("failed", self._step, str(exc))
        except BaseException as exc:  # noqa: BLE001 - every failure becomes one clear line
            self._exc = exc
            finished = self._failure(exc)
        if finished.state == "failed" and self.world_size > 1:
            # Every rank, not only rank 0: the launcher names the first one (rank_failure.py).
            from ft_tui.core.training.rank_failure import record

            record(self.run_dir.path, self.rank, self.world_size, finished, self._exc)
        try:
            self._finish(finished)
        finally:
            if self._lock is not None:
                self._lock.release()
        # Listeners hear of the end only once status.json says it and the lock is free, so
        # a Resume or an exit prompted by this event finds the run really finished.
        self._tell(finished)
        return finished

    # ----- the run ---------------------------------------------------------------------
    def _run(self) -> RunFinished:
        from ft_tui.core.objectives import load_training_data
        from ft_tui.core.plan.device import check_liger, detect_device, resolve_precision
        from ft_tui.core.training.checkpoint_files import is_final_checkpoint
        from ft_tui.core.training.resume import (Carried, carried_from_metrics, checkpoint_step,
                                                 truncate_metrics, usable_checkpoint)

        cfg = self.cfg
        checkpoint, carried, torn = None, Carried(), []
        if self.resume:
            checkpoint = usable_checkpoint(self.run_dir, skipped=torn)
            step = self._step = checkpoint_step(checkpoint) if checkpoint else 0
        self._status("running", "loading data")
        if self.resume:
            if self.main:
                truncate_metrics(self.run_dir, step)
            carried = carried_from_metrics(self.run_dir)
            for line in torn:
                self._emit(TrainWarning(step, "torn_checkpoint", f"{line}: skipped, resuming from "
                                        f"{checkpoint.name if checkpoint else 'step 0'}"))
            if checkpoint is None:
                self._emit(TrainWarning(0, "no_checkpoint", "no checkpoint was saved before the run "
                                        "ended, so it starts again from step 0"))
            elif is_final_checkpoint(checkpoint):   # killed after its last step: nothing to train
                return self._final_from_checkpoint(checkpoint)
        elif self.main:
            from ft_tui.core.models.resolve import pinned

            self.cfg = cfg = pinned(cfg)   # a hub model: the commit it trains on, for resume/eval/export
            self.run_dir.save_config(cfg)

        data = load_training_data(cfg)   # bad data fails here, before the slow model load
        overlap = _eval_overlap(cfg, data)
        device = detect_device()
        precision = resolve_precision(cfg, device)
        check_liger(cfg, device)   # before the slow model load
        if cfg.method == "qlora" and not device.cuda:
            self._emit(TrainWarning(0, "qlora_on_cpu", qlora_on_cpu_message()))
        from ft_tui.core.plan.device import packing_allowed, pick_attention

        unpacked = packing_allowed(cfg, pick_attention(cfg, device))[1]
        if unpacked:
            self._emit(TrainWarning(0, "packing_off", unpacked))
        if self.stop_requested():
            return RunFinished("stopped", 0, "stopped before training started")

        from ft_tui.core.objectives import objective_of
        from ft_tui.core.quiet import quiet_libraries
        from ft_tui.core.training.builder import count_params

        quiet_libraries()  # before transformers/peft import bitsandbytes, which talks on import
        from ft_tui.core.training.callbacks import EventCallback

        self._status("running", "loading the model")
        objective = objective_of(cfg)   # core/objectives/: sft, dpo, kto, orpo
        model, tokenizer, peft_config = objective.prepare(
            cfg, data, precision, device, log=self._log,
            note=lambda text: self._emit(TrainWarning(0, "trained_turns", text)))
        args = objective.build_config(cfg, self.run_dir.checkpoints_dir, precision, device,
                                      has_eval=bool(data.eval_rows), data=data,
                                      world_size=self.world_size)
        trainable, total = count_params(model)
        self._trainable = trainable
        # Samples come from rank 0's copy of the model; FSDP shards it, so none there.
        sharded = os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true")
        sample_every = cfg.training.sample_every_steps if self.main and not sharded else 0
        callback = EventCallback(
            self._emit, self.stop_requested, tokenizer=tokenizer,
            start_info=dict(run_dir=str(self.run_dir.path), method=cfg.method, model=cfg.model.name,
                            device=f"{device.name}, {precision.mode}", trainable_params=trainable, total_params=total),
            sample_prompts=data.sample_prompts, sample_every=sample_every,
            carried=carried, world_size=self.world_size, on_progress=self._progress,
            space_check=lambda step: self._checkpoint_space(step, trainable),
            eval_rows=len(eval_subset(data.eval_rows, cfg.training.max_eval_rows)))
        if overlap:
            callback.start_warnings.append(TrainWarning(0, "eval_overlap", overlap))
        if not data.eval_rows and cfg.data.eval_fraction > 0 and not cfg.data.eval_path.strip():
            callback.start_warnings.append(TrainWarning(0, "no_held_out", (
                f"{len(data.train_rows)} training example(s) are too few to hold out "
                f"{cfg.data.eval_fraction:.0%}, so there is no held-out data: no eval loss, no "
                "early stopping, nothing for `ft-tui eval` to score; add examples or give "
                "--eval-data")))
        trainer = objective.make_trainer(model, tokenizer, args, data, callback, cfg, peft_config)
        trainable, total = count_params(trainer.model)   # a trainer may add the adapter itself
        callback.start_info.update(trainable_params=trainable, total_params=total,
                                   method=objective.method_label(cfg))
        from ft_tui.core.training.rank_failure import add_fault_hook

        add_fault_hook(trainer, self.rank)   # only with FT_TUI_FAULT set (tests)
        self._status("running", "training")
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)

        step = trainer.state.global_step

        def elapsed() -> float | None:
            return callback.meter.elapsed() if callback.meter is not None else None

        if callback.failure:
            return RunFinished("failed", step, callback.failure, elapsed_s=elapsed())
        if callback.stopped_at is not None and step < trainer.state.max_steps:
            return RunFinished("stopped", step, f"stopped at step {step}; a checkpoint was saved: "
                               f"resume with `ft-tui train --resume {shell_quote(self.run_dir.path)}`",
                               elapsed_s=elapsed())
        self._status("running", "saving the adapter")
        objective.before_save(trainer)
        _save_final(trainer, self.run_dir.adapter_dir, self.main)
        message = f"finished {step} steps"
        if step < trainer.state.max_steps:
            message = f"stopped early at step {step}: the held-out loss stopped improving"
        return RunFinished("done", step, f"{message}; saved to {self.run_dir.adapter_dir}",
                           elapsed_s=elapsed())

    def _final_from_checkpoint(self, checkpoint: Path) -> RunFinished:
        """A resume whose checkpoint is the run's last step: never trains past max_steps.
        The final adapter is kept when it was saved, else written from that checkpoint."""
        from ft_tui.core.atomic import atomic_dir
        from ft_tui.core.run.artifacts import is_peft_adapter
        from ft_tui.core.training.checkpoint_files import model_files
        from ft_tui.core.training.resume import checkpoint_step

        step = self._step = self._total = checkpoint_step(checkpoint)
        adapter = self.run_dir.adapter_dir
        if is_peft_adapter(adapter) or (adapter / "config.json").is_file():
            return RunFinished("done", step, f"already trained to step {step}, its last; the "
                               f"final adapter in {adapter} is kept")
        if self.main:
            with atomic_dir(adapter) as tmp:
                for path in model_files(checkpoint):
                    shutil.copy2(path, tmp / path.name)
        return RunFinished("done", step, f"already trained to step {step}, its last (the process "
                           f"ended before the final save); saved to {adapter} from {checkpoint.name}")

    # ----- plumbing --------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        if not self.main:
            return
        step = getattr(event, "step", None)
        if isinstance(step, int):
            self._step = step
        self._metrics.append(event)
        if not isinstance(event, RunFinished):
            self._tell(event)

    def _tell(self, event: Event) -> None:
        """Hand an event (already in metrics.jsonl) to the queue and the listener."""
        if not self.main:
            return
        self.events.put(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception as exc:  # a broken listener must not kill a long run; keep the cause
                from ft_tui.core.training.failures import log_traceback

                log_traceback(self.run_dir, exc)

    def _progress(self, step: int, total: int, force: bool = False) -> None:
        self._step, self._total = step, total
        if force or time.monotonic() - self._last_status >= STATUS_EVERY_S:
            self._status("running", "training")

    def _status(self, state: str, message: str) -> None:
        if self.main:
            self._last_status = time.monotonic()
            self.run_dir.write_status(state, step=self._step, total_steps=self._total, message=message)

    def _log(self, message: str) -> None:
        self._status("running", message)

    def _checkpoint_space(self, step: int, trainable: int) -> str | None:
        """Why a checkpoint at ``step`` would not fit on the disk, or None. Its size: the last
        checkpoint's, else the trained weights with Adam's two moments (fp32)."""
        from ft_tui.core.space import space_problem

        problem = space_problem(self.run_dir.checkpoints_dir, self._checkpoint_bytes(trainable),
                                f"the checkpoint at step {step}")
        return problem and problem + self._keep_hint(self.run_dir.latest_checkpoint())

    def _checkpoint_bytes(self, trainable: int) -> int:
        from ft_tui.core.space import folder_size

        last = self.run_dir.latest_checkpoint()
        return folder_size(last) if last is not None else trainable * 4 * 3

    def _keep_hint(self, last: Path | None) -> str:
        kept = f"{last.name} is kept" if last is not None else "no checkpoint was saved yet"
        return (f"; {kept}: free some space, then `ft-tui train --resume {shell_quote(self.run_dir.path)}`")

    def _failure(self, exc: BaseException) -> RunFinished:
        from ft_tui.core.space import is_disk_full
        from ft_tui.core.training.failures import is_out_of_memory, log_traceback, one_line, oom_advice

        if is_disk_full(exc):
            from ft_tui.core.space import MARGIN, MIN_FREE, free_bytes, human

            _drop_partial_checkpoints(self.run_dir)   # frees space for the status and the log
            last = self.run_dir.latest_checkpoint()
            try:
                log_traceback(self.run_dir, exc)
            except OSError:
                pass
            needed = self._checkpoint_bytes(self._trainable) * MARGIN + MIN_FREE
            return RunFinished(
                "failed", self._step,
                f"the disk is full (at step {self._step}: {one_line(exc, 160)}); a checkpoint "
                f"needs about {human(needed)}, {human(free_bytes(self.run_dir.path))} is free on "
                f"{self.run_dir.path.resolve()}; the partial checkpoint was removed"
                + self._keep_hint(last))
        if self.main:
            log_traceback(self.run_dir, exc)
        log = self.run_dir.path / "error.log"
        if self.world_size > 1:
            from ft_tui.core.training.rank_failure import rank_log

            log = rank_log(self.run_dir.path, self.rank)
        where = f" (traceback in {log})"
        if is_out_of_memory(exc):
            return RunFinished("failed", self._step, f"out of memory at step {self._step}{where}",
                               oom_advice(self.cfg))
        return RunFinished("failed", self._step, one_line(exc) + where)

    def _finish(self, finished: RunFinished) -> None:
        self._finished = finished
        if not self.main:
            return
        from ft_tui.core.space import is_disk_full

        try:
            self._emit(finished)
            self._metrics.close()
        except OSError as exc:   # a full disk: the end still reaches status.json, below
            if not is_disk_full(exc):
                raise
        self.run_dir.write_status(finished.state, step=finished.step, total_steps=self._total,
                                  message=finished.message, advice=finished.advice)
        try:
            (self.run_dir.path / STOP_FILE).unlink()
        except FileNotFoundError:
            pass


class _MetricsLog:
    """metrics.jsonl, open for the whole run: one write() and flush per event, so a reader
    never sees half a line and a crash loses at most the line being written. (Opened on
    the first event, after a resume has rewritten the file.)"""

    def __init__(self, run_dir: RunDir):
        self.path = run_dir.metrics_path
        self._fh = None

    def append(self, event: Event) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8")
        self._fh.write(json.dumps(event.to_dict(), ensure_ascii=False, default=str) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def qlora_on_cpu_message() -> str:
    return ("QLoRA without a CUDA GPU runs through bitsandbytes' CPU backend, which is very slow "
            "(several seconds per step even for a 135M model); --method lora trains the same "
            "adapter much faster here")


def resume_runner(run_dir_path, on_event: Callable[[Event], None] | None = None,
                  moved_data: dict[str, str] | None = None) -> TrainingRunner:
    """A runner that continues a stopped, failed or killed run from its latest checkpoint;
    ``moved_data`` ({"data.train_path": path}) names where its data file is now, checked to
    be the same data (``RunDir.check_data``). Raises RunDirError / ConfigError / SetupError
    with a one-line reason when it cannot."""
    run_dir = RunDir.open(run_dir_path)
    # The lock, not the pid in status.json, decides: two resumes started at the same moment
    # both read "stopped", but only one of them gets the lock.
    lock = RunLock(run_dir.path, "training").acquire()
    try:
        from ft_tui.core.training.resume import finished_before

        if run_dir.read_status().get("state") == "done" or finished_before(run_dir):
            raise SetupError(f"{run_dir.path}: this run already finished; nothing to resume "
                             f"(evaluate it with `ft-tui eval {run_dir.path}`)")
        cfg = run_dir.check_data(run_dir.load_config(), moved_data)
        if moved_data:
            run_dir.save_config(cfg)   # the new place, stored absolute
        return TrainingRunner(cfg, run_dir, resume=True, on_event=on_event, lock=lock)
    except BaseException:
        lock.release()
        raise


def _eval_overlap(cfg, data) -> str | None:
    """Held-out rows that are also training rows (core/data/overlap.py), or None."""
    from ft_tui.core.data.overlap import eval_file_is_train_file, overlap_message

    train, held = data.conversations
    if not held:
        return None
    return overlap_message(((c[0], c[1]) for c in train), ((c[0], c[1]) for c in held),
                           eval_file_is_train_file(cfg))


def _drop_partial_checkpoints(run_dir: RunDir) -> None:
    """checkpoint-N folders a failed save left without trainer_state.json."""
    if not run_dir.checkpoints_dir.is_dir():
        return
    for child in run_dir.checkpoints_dir.glob("checkpoint-*"):
        if child.is_dir() and not (child / "trainer_state.json").is_file():
            shutil.rmtree(child, ignore_errors=True)


def _save_final(trainer, target: Path, main: bool) -> None:
    """The adapter (PEFT format) or full model plus tokenizer, swapped in atomically."""
    tmp = target.with_name(f".{target.name}.tmp")
    if main and tmp.exists():
        shutil.rmtree(tmp)
    trainer.save_model(str(tmp))   # every rank takes part (FSDP gathers the weights)
    if main:
        replace_dir(tmp, target)


__all__ = ["TrainingRunner", "resume_runner", "RunDirError", "RunInUse", "SetupError",
           "qlora_on_cpu_message"]

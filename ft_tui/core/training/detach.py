"""Training that outlives the terminal: every run in its own process and session.

    run = start_detached(cfg)                 # or start_detached(None, resume=RUN_DIR)
    finished = run.follow(on_event, leave)    # on a worker thread; None once ``leave`` is set
    run.request_stop()                        # the STOP file: a checkpoint, then the end
    run = DetachedRun.attach(RUN_DIR)         # a live run another (gone) wizard started

The wizard's Train step and ``ft-tui train --detach`` start a run as

    python -m ft_tui.core.training.detach --run-dir RUN [--resume]

with ``start_new_session=True`` (setsid: no controlling terminal, so the SIGHUP of a
dropped SSH connection, a closed tmux pane or a closed laptop lid never reaches it), stdin
from /dev/null and its stdout/stderr appended to ``RUN/train.log``. That process trains
through ``session.start_run`` exactly as ``ft-tui train`` does (in one process, or as the
launcher of accelerate workers). The caller is only a client of the run directory: it
follows ``metrics.jsonl`` with the same ``JsonlFollower`` that ``ft-tui monitor`` uses, and
reaches the trainer through the STOP file (or SIGTERM, which stops the same graceful way).

The run directory is made here, before the process starts, so a bad name, an unwritable
folder or a missing model is said at once; a resume is checked here (finished already?
data still there?) under the run's lock, which the trainer then takes for itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Callable

from ft_tui.core.run.events import Event, RunFinished, event_from_dict
from ft_tui.core.process import process_alive
from ft_tui.core.run.follow import JsonlFollower
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training.launch import _last_line
from ft_tui.core.training.runner import STOP_FILE

TRAIN_LOG = "train.log"
POLL_S = 0.25
EXIT_CODES = {"done": 0, "failed": 1, "stopped": 130}


def detached_command(run_dir: RunDir, *, resume: bool, num_processes: int | None = None,
                     force_cpu: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "ft_tui.core.training.detach", "--run-dir", str(run_dir.path)]
    if resume:
        cmd.append("--resume")
    if num_processes is not None:
        cmd += ["--num-processes", str(num_processes)]
    if force_cpu:
        cmd.append("--cpu")
    return cmd


def start_detached(cfg, *, resume: str | os.PathLike | None = None,
                   moved_data: dict[str, str] | None = None, num_processes: int | None = None,
                   force_cpu: bool = False) -> "DetachedRun":
    """Prepare the run directory (a new one for ``cfg``, or ``resume``'s) and start its
    trainer in a new session. Raises SetupError / RunDirError / ConfigError / RunInUse /
    OSError, before anything starts, when it cannot."""
    from ft_tui.core.training.session import prepare_run_dir

    run_dir = prepare_run_dir(cfg, resume=resume, moved_data=moved_data)
    _clear_stop(run_dir)   # a STOP left by an earlier session must not stop this one at once
    command = detached_command(run_dir, resume=resume is not None,
                               num_processes=num_processes, force_cpu=force_cpu)
    with open(run_dir.path / TRAIN_LOG, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} "
                  f"{'resume' if resume is not None else 'start'} ===\n".encode())
        log.flush()
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True)
    return DetachedRun(run_dir, proc.pid, proc=proc)


def _clear_stop(run_dir: RunDir) -> None:
    try:
        (run_dir.path / STOP_FILE).unlink()
    except FileNotFoundError:
        pass


class DetachedRun:
    """A client of a run whose trainer is another process (its ``pid``)."""

    distributed = False   # the trainer decides that for itself; its status line says so
    plan = None

    def __init__(self, run_dir: RunDir, pid: int, *, proc: subprocess.Popen | None = None,
                 follower: JsonlFollower | None = None):
        self.run_dir = run_dir
        self.pid = pid
        self.proc = proc          # only when this process started it (reaped on exit)
        self.follower = follower or JsonlFollower(run_dir.metrics_path)
        self._last_end: RunFinished | None = None

    @classmethod
    def attach(cls, run_dir: RunDir, follower: JsonlFollower | None = None) -> "DetachedRun | None":
        """The live run in ``run_dir`` (status.json running, its process there), or None."""
        status = run_dir.read_status()
        pid = status.get("pid")
        if status.get("state") != "running" or not process_alive(pid):
            return None
        return cls(run_dir, int(pid), follower=follower)

    @property
    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return process_alive(self.pid)

    def request_stop(self) -> None:
        """Graceful: the trainer saves a checkpoint at the next step, then ends."""
        (self.run_dir.path / STOP_FILE).touch()

    def follow(self, on_event: Callable[[Event], None],
               leave: threading.Event | None = None,
               on_rewind: Callable[[list[Event]], None] | None = None) -> RunFinished | None:
        """Hand every new event to ``on_event`` until the run ends (its RunFinished, or one
        made up when the process died without a word) or ``leave`` is set (None). A
        metrics file rewritten by a resume goes to ``on_rewind`` whole."""
        leave = leave or threading.Event()
        while not leave.is_set():
            alive = self.alive
            rewound, records = self.follower.poll()
            events = [e for e in (event_from_dict(r) for r in records) if e is not None]
            if rewound and on_rewind is not None:
                on_rewind(events)
                events = []
            for event in events:
                if isinstance(event, RunFinished):
                    self._last_end = event
                else:
                    on_event(event)
            if self._last_end is not None and self.follower.caught_up:
                return self._end(on_event, self._last_end)
            if not alive and self.follower.caught_up:
                return self._end(on_event, self._died())
            leave.wait(POLL_S)
        return None

    def _end(self, on_event, finished: RunFinished) -> RunFinished:
        # Listeners hear of the end once status.json says it and the lock is free (the
        # trainer writes its RunFinished first), so a Resume prompted by it finds it ended.
        deadline = time.monotonic() + 30
        while self.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        on_event(finished)
        return finished

    def _died(self) -> RunFinished:
        """The trainer ended without a RunFinished (killed, out of memory, a crash). Its
        status.json still says running with a dead pid: ``interrupted``, resumable."""
        status = self.run_dir.read_status()
        log = self.run_dir.path / TRAIN_LOG
        return RunFinished("failed", int(status.get("step") or 0),
                           f"the training process ({self.pid}) ended without a word; "
                           f"see {log} ({_last_line(log)})")


# ----- the trainer's side --------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ft_tui.core.training.detach")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--cpu", action="store_true")
    args = parser.parse_args(argv)
    if args.cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""   # before torch is imported
    # No terminal can hang up on us (new session), but a `kill -HUP` must not end a run.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    from ft_tui.core.training.session import start_run

    run_dir = RunDir.open(args.run_dir)
    try:
        session = start_run(None if args.resume else run_dir.load_config(),
                            resume=run_dir.path if args.resume else None, run_dir=run_dir,
                            num_processes=args.num_processes, force_cpu=args.cpu)
    except Exception as exc:  # noqa: BLE001 - the run never started: say why, in its files
        finished = RunFinished("failed", 0, f"could not start: {exc}")
        if run_dir.read_state() != "running":   # (never over a run another process holds)
            run_dir.append_event(finished)
            run_dir.write_status("failed", message=finished.message)
        print(finished.message, file=sys.stderr)
        return 1
    _graceful_signals(session)
    print(f"training {run_dir.path} in process {os.getpid()}", file=sys.stderr, flush=True)
    finished = session.run()
    print(f"{finished.state}: {finished.message}", file=sys.stderr)
    return EXIT_CODES.get(finished.state, 1)


def _graceful_signals(session) -> None:
    """SIGTERM or SIGINT: a checkpoint, then the end; a second one ends it at once."""
    asked = []

    def on_signal(signum, frame):
        asked.append(signum)
        if len(asked) == 1:
            session.request_stop()
        elif session.distributed:
            session.abort()
        else:
            raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)


if __name__ == "__main__":
    sys.exit(main())

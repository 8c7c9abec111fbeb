"""One process at a time per run directory.

Training, resuming, evaluating and merging a run each hold an exclusive ``fcntl`` lock on
``<run>/.lock`` for as long as they work on it. The kernel drops the lock when the process
ends, however it ends (kill -9 included), so a lock never outlives its holder and no stale
pid has to be guessed about. A second process that wants the same run is refused at once:

    run runs/x is in use by process 4242 (training); wait for it or stop it first

The lock file also names its holder (pid and what it is doing) for that message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ft_tui.core.run.artifacts import RunError

LOCK_FILE = ".lock"


class RunInUse(RunError):
    """Another process holds the run directory."""

    def __init__(self, path: Path, pid: int | None, doing: str):
        who = f"process {pid}" if pid else "another process"
        what = f" ({doing})" if doing else ""
        super().__init__(f"run {path} is in use by {who}{what}; wait for it to finish or stop it first")
        self.pid = pid


class RunLock:
    """``with RunLock(path, "evaluating"):`` or ``acquire()`` / ``release()``."""

    def __init__(self, run_path: str | os.PathLike, doing: str = ""):
        self.run_path = Path(run_path)
        self.path = self.run_path / LOCK_FILE
        self.doing = doing
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        """Take the lock now or raise :class:`RunInUse`; never waits."""
        if self._fd is not None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, doing = _read_holder(fd)
            os.close(fd)
            raise RunInUse(self.run_path, pid, doing) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.doing}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)   # closing the descriptor drops the lock

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:  # a runner that was never run must not keep its run locked
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _read_holder(fd: int) -> tuple[int | None, str]:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", errors="replace").strip()
    except OSError:
        return None, ""
    pid_text, _, doing = text.partition(" ")
    return (int(pid_text) if pid_text.isdigit() else None), doing.strip()

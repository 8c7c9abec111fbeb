"""One process at a time per run directory.

Training, resuming, evaluating and merging a run each hold an exclusive ``fcntl`` lock on
``<run>/.lock`` for as long as they work on it. The kernel drops the lock when the process
ends, however it ends (kill -9 included), so a lock never outlives its holder and no stale
pid has to be guessed about. A second process that wants the same run is refused at once:

    run runs/x is in use by process 4242 (training); wait for it or stop it first

The lock file also names its holder (pid and what it is doing) for that message.

The lock is opened with ``O_NOFOLLOW`` and must be a regular file with one link, and it is
never truncated (the holder line is written over a fixed-width field): a ``.lock`` planted
as a symlink or hard link to another file must not empty that file, whoever runs ft-tui.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

from ft_tui.core.run.artifacts import RunError

LOCK_FILE = ".lock"
_FIELD = 128   # bytes of the holder line; written over, never truncated


class RunInUse(RunError):
    """Another process holds the run directory."""

    def __init__(self, path: Path, pid: int | None, doing: str):
        who = f"process {pid}" if pid else "another process"
        what = f" ({doing})" if doing else ""
        super().__init__(f"run {path} is in use by {who}{what}; wait for it to finish or stop it first")
        self.pid = pid


class BadLockFile(RunInUse):
    """``RUN_DIR/.lock`` is a link or not a regular file: refused, nothing written to it.
    A RunInUse, so every caller that reports a busy run reports this too."""

    def __init__(self, message: str):
        RunError.__init__(self, message)
        self.pid = None


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
        fd = _open_lock_file(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, doing = _read_holder(fd)
            os.close(fd)
            raise RunInUse(self.run_path, pid, doing) from None
        _write_field(fd, f"{os.getpid()} {self.doing}")
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            _write_field(fd, "")
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


def _open_lock_file(path: Path) -> int:
    """The run's own lock file, created if missing; never through a link."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if path.is_symlink():
            raise BadLockFile(f"{path} is a symbolic link, not ft-tui's lock file; remove it "
                           f"(nothing was written through it) and try again") from None
        raise BadLockFile(f"cannot open the run lock {path}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        kind = "not a regular file" if not stat.S_ISREG(info.st_mode) else \
            f"a hard link shared with {info.st_nlink - 1} other name(s)"
        raise BadLockFile(f"{path} is {kind}, not ft-tui's lock file; remove it "
                       f"(nothing was written to it) and try again")
    return fd


def _write_field(fd: int, text: str) -> None:
    """Write the holder line over the fixed-width field, padded with spaces."""
    data = text.encode()[:_FIELD - 1].ljust(_FIELD - 1) + b"\n"
    os.pwrite(fd, data, 0)


def _read_holder(fd: int) -> tuple[int | None, str]:
    try:
        text = os.pread(fd, _FIELD, 0).decode("utf-8", errors="replace").split("\n")[0].strip()
    except OSError:
        return None, ""
    pid_text, _, doing = text.partition(" ")
    return (int(pid_text) if pid_text.isdigit() else None), doing.strip()

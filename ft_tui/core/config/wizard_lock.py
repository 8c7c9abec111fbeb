"""One wizard per config: ``NAME.wizard.lock`` beside ``NAME.yaml``.

Over SSH a user often reconnects and runs ``ft-tui`` again while the first wizard still
runs in a detached tmux or screen session. Both would save the same ``ft-tui.yaml`` and
``ft-tui.wizard.json``, and the last writer would silently win. So a wizard claims its
config first:

    lock = WizardLock("ft-tui.yaml")
    holder = lock.claim()        # None: this process holds it now; else who does
    ...
    lock.release()               # on a clean exit; the file is removed

The lock file is JSON (pid, host, the holder's start time), written atomically. A lock is
stale, and taken over without a word, when its process is gone from this host (or the pid
now belongs to a process that started later: the pid was reused). A lock written on another
host (a home folder shared over NFS) cannot be checked from here: it is reported, never
broken. A kernel lock (``flock``) would vanish with its holder by itself, but it does not
say who holds it and is unreliable over NFS, hence a file that names its holder.

Only the wizard takes this lock. ``ft-tui monitor``, ``ft-tui train`` and a training run
neither take it nor look at it: they never write the wizard's config.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from ft_tui.core.atomic import atomic_write_text
from ft_tui.core.process import process_alive

LOCK_SUFFIX = ".wizard.lock"
_TRIES = 5   # claims lost to a racing wizard before giving up (each loss re-reads the file)


def wizard_lock_for(config_path: str | os.PathLike) -> Path:
    """Where the lock for this config lives: ``NAME.wizard.lock`` beside it."""
    path = Path(config_path)
    return path.with_name(path.stem + LOCK_SUFFIX)


@dataclass(frozen=True)
class LockHolder:
    """The wizard process named in a lock file."""
    pid: int
    host: str
    started: float   # the holding process's start time (epoch seconds)

    @property
    def on_this_host(self) -> bool:
        return self.host == _this_host()

    def since(self) -> str:
        return time.strftime("%H:%M on %d %b %Y", time.localtime(self.started))

    def describe(self) -> str:
        """``process 4242 on this machine, since 21:03 on 07 Dec 2026``."""
        where = "this machine" if self.on_this_host else f"host {self.host}"
        return f"process {self.pid} on {where}, since {self.since()}"


class WizardLock:
    def __init__(self, config_path: str | os.PathLike):
        self.config_path = Path(config_path)
        self.path = wizard_lock_for(self.config_path)
        self.held = False

    def claim(self) -> LockHolder | None:
        """Take the config for this process. Returns None when this process holds it now
        (a stale lock was taken over), or the live holder when another wizard (or one on
        another host) holds it; that lock is left as it is."""
        me = _me()
        for _ in range(_TRIES):
            holder = read_holder(self.path)
            if holder is None:
                if self._create(me):
                    return None
            elif holder.on_this_host and holder.pid == me.pid:
                self.held = True
                return None
            elif _alive(holder):
                return holder
            elif self._take_over(holder) and self._create(me):
                return None
        return read_holder(self.path)   # lost every race: someone else keeps claiming it

    def release(self) -> None:
        """Remove the lock if it is still this process's (never another wizard's)."""
        if not self.held:
            return
        self.held = False
        holder = read_holder(self.path)
        if holder is not None and holder.on_this_host and holder.pid == os.getpid():
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def _create(self, me: LockHolder) -> bool:
        text = json.dumps({"pid": me.pid, "host": me.host, "started": me.started}) + "\n"
        try:
            atomic_write_text(self.path, text, exclusive=True)
        except FileExistsError:
            return False
        try:   # readable by a second user's wizard in a shared folder, so it is not taken as damaged
            os.chmod(self.path, 0o644)
        except OSError:
            pass
        self.held = True
        return True

    def _take_over(self, stale: LockHolder) -> bool:
        """Move the stale lock aside, then check it was the one judged stale: a wizard
        racing for the same stale lock may have replaced it with its own meanwhile, which is
        then put back. True when the stale lock is gone."""
        aside = self.path.with_name(f".{self.path.name}.{os.getpid()}.stale")
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return True
        moved = read_holder(aside)
        try:
            if moved is not None and moved != stale:
                try:
                    os.link(aside, self.path)
                except FileExistsError:
                    pass
                return False
            return True
        finally:
            try:
                aside.unlink(missing_ok=True)
            except OSError:   # not a file: left aside, out of the way
                pass


def read_holder(path: str | os.PathLike) -> LockHolder | None:
    """The holder a lock file names; None when there is no lock. A file that does not
    read as a lock (damaged, foreign) counts as a holder that is gone, so it is replaced."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return LockHolder(int(data["pid"]), str(data["host"]), float(data["started"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return LockHolder(0, _this_host(), 0.0)


def _alive(holder: LockHolder) -> bool:
    """Whether the holder still runs; one on another host is taken to (it cannot be seen)."""
    if not holder.on_this_host:
        return True
    if holder.pid <= 0 or not process_alive(holder.pid):
        return False
    started = _start_time(holder.pid)
    # A process that started after the lock was written has only reused the pid.
    return started is None or started <= holder.started + 1.0


def _me() -> LockHolder:
    return LockHolder(os.getpid(), _this_host(), _start_time(os.getpid()) or time.time())


def _start_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _this_host() -> str:
    return socket.gethostname()

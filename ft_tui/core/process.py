"""Is a process still there? One answer for the run directory's readers (core/run/) and
for the clean-up of folders a dead writer left (core/atomic.py), which sits below run/."""

from __future__ import annotations

from typing import Any


def process_alive(pid: Any) -> bool:
    """Whether a process with this id exists and is not a zombie."""
    import psutil

    try:
        return psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError, TypeError, OverflowError):
        return False

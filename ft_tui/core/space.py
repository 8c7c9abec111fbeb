"""Free disk space, checked before the big writes (a checkpoint, a merged model), and the
one message for a full disk. A checkpoint that cannot fit is not started: the last good
one stays the one to resume from."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

MARGIN = 1.2                 # what a write needs, plus this share for the file system
MIN_FREE = 16 * 2**20        # and always this much (status.json, metrics.jsonl, logs)


def folder_size(folder: str | os.PathLike) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def free_bytes(folder: str | os.PathLike) -> int:
    """Free space on the file system that holds ``folder`` (or its nearest existing parent)."""
    path = Path(folder).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def space_problem(folder: str | os.PathLike, needed: int, what: str) -> str | None:
    """None when ``needed`` bytes (with a margin) fit under ``folder``; else one line."""
    free = free_bytes(folder)
    if free >= needed * MARGIN + MIN_FREE:
        return None
    return (f"not enough disk space for {what}: it needs about {human(needed * MARGIN + MIN_FREE)}, "
            f"{human(free)} is free on {Path(folder).resolve()}")


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)

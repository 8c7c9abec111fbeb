"""Atomic writes of files and folders: a crash or kill -9 mid-write never leaves a
half-written file or folder where a reader looks."""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8", *,
                      exclusive: bool = False) -> Path:
    """Write ``text`` to a temp file in the same folder, fsync it, then rename over ``path``.
    ``exclusive``: put it in place only if ``path`` does not exist yet (a hard link, which
    is atomic on local disks and NFS alike), else raise FileExistsError: of two processes
    creating the same file at once, exactly one wins."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_json(path: str | os.PathLike, data: Any, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=indent, ensure_ascii=False, default=str) + "\n")


@contextmanager
def atomic_dir(target: str | os.PathLike, *, replace: bool = True) -> Iterator[Path]:
    """A temp folder beside ``target`` to write into. When the block finishes it takes
    ``target``'s place (``replace=False``: unless another writer made ``target`` first, whose
    folder is then kept); when the block fails it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_debris(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", dir=target.parent))
    try:
        yield tmp
        if target.exists() and not replace:
            shutil.rmtree(tmp)
        else:
            replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sweep_debris(target: str | os.PathLike) -> list[Path]:
    """Remove the temp folders an interrupted :func:`atomic_dir` or :func:`replace_dir` for
    ``target`` left beside it (``.<name>.<pid>.<random>``, ``.<name>.old-<pid>``) whose
    process is gone: a kill -9 during a merge leaves a whole model's worth of them, and
    a cut-off model conversion one in the cache. Folders of live processes are kept.
    Returns what was removed."""
    from ft_tui.core.process import process_alive

    target = Path(target)
    prefix = f".{target.name}."
    removed = []
    try:
        children = list(target.parent.glob(glob.escape(prefix) + "*"))
    except OSError:
        return removed
    for child in children:
        rest = child.name[len(prefix):]
        pid_text = rest[4:] if rest.startswith("old-") else rest.split(".", 1)[0]
        if not pid_text.isdigit() or not child.is_dir() or child.is_symlink():
            continue
        if int(pid_text) == os.getpid() or process_alive(int(pid_text)):
            continue
        shutil.rmtree(child, ignore_errors=True)
        removed.append(child)
    return removed


def replace_dir(tmp: Path, target: Path) -> None:
    """Move a finished folder into place; the older one is removed only after the new one is
    there, so an interrupted swap never leaves ``target`` half-written."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

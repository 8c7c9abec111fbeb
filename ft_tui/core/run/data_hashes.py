"""What a run records of its data (``data_hashes.json``) and how a later look compares.

One file is recorded as ``{"path", "sha256", "bytes"}``. A data set given as a folder
(plain files or a ``datasets.save_to_disk`` folder) or a glob also lists every file it
resolves to, ``"files": [{"name", "path", "sha256", "bytes"}]``; its ``sha256`` then covers
each file's name (relative to the folder, so a moved folder still matches) and content.
A change names the files that changed, appeared or went.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def file_sha256(path: str | os.PathLike) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_files_of(path: Path) -> list[Path] | None:
    """The files a data path resolves to (containers.data_files), or None when it names
    none (a missing file, an empty folder, a glob matching nothing)."""
    from ft_tui.core.data.containers import data_files

    files = data_files(path)
    if isinstance(files, str) or not files or not all(f.is_file() for f in files):
        return None
    return files


def is_multi(path: Path) -> bool:
    """A folder or a glob: its record lists its files."""
    import glob

    return path.is_dir() or (glob.has_magic(str(path)) and not path.exists())


def record_of(path: Path) -> dict[str, Any] | None:
    """The record of what ``path`` holds now, or None when it holds no data file."""
    import hashlib

    files = data_files_of(path)
    if files is None:
        return None
    if not is_multi(path):
        return {"path": str(path.resolve()), "sha256": file_sha256(path), "bytes": path.stat().st_size}
    from ft_tui.core.data.containers import label

    entries = [{"name": label(f, path), "path": str(f.resolve()), "sha256": file_sha256(f),
                "bytes": f.stat().st_size} for f in files]
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(f"{entry['name']}\0{entry['sha256']}\n".encode("utf-8", "surrogateescape"))
    return {"path": str(Path(path).absolute()), "sha256": digest.hexdigest(),
            "bytes": sum(e["bytes"] for e in entries), "files": entries}


def differences(was: dict[str, Any], now: dict[str, Any]) -> str:
    """How ``now`` differs from ``was`` in words: the files of a set that changed, were
    added or removed; for one file, its size then and now."""
    if not isinstance(was.get("files"), list) or "files" not in now:
        return (f"{was.get('bytes')} bytes, sha256 {str(was.get('sha256'))[:12]}… then; "
                f"{now['bytes']} bytes now")
    before = {e.get("name"): e for e in was["files"] if isinstance(e, dict)}
    after = {e["name"]: e for e in now["files"]}
    parts = [f"{name} changed ({before[name].get('bytes')} bytes then, {after[name]['bytes']} now)"
             for name in after if name in before and before[name].get("sha256") != after[name]["sha256"]]
    parts += [f"{name} added" for name in after if name not in before]
    parts += [f"{name} removed" for name in before if name not in after]
    shown = parts[:5] + ([f"{len(parts) - 5} more"] if len(parts) > 5 else [])
    return ", ".join(shown) or "its files were renamed"


def checksum_lines(recorded: dict[str, dict[str, Any]]) -> list[str]:
    """``sha256  path`` for every data file recorded (sha256sum's format), a set's files
    one by one."""
    lines = []
    for entry in recorded.values():
        for f in entry.get("files") or [entry]:
            lines.append(f"{f['sha256']}  {f['path']}")
    return lines

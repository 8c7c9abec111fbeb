"""A checkpoint is used only when every file of it is whole.

The Trainer writes a checkpoint's files straight into ``checkpoint-N/`` and fsyncs none
of them, so after a power cut ``trainer_state.json`` (written last) can be intact while
the weights or the optimizer state are cut short or zero-filled. When a save finishes,
:func:`seal_checkpoint` fsyncs each file and the folder and records every file's size in
``ft-tui-checkpoint.json``; :func:`checkpoint_problem` checks those sizes and the structure
of each weight file (a safetensors header that accounts for the whole file; torch's zip
archives readable to their central directory), so a torn one is skipped for the one
before it.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

from ft_tui.core.atomic import atomic_write_json

MANIFEST = "ft-tui-checkpoint.json"
_TORCH_SUFFIXES = (".pt", ".pth", ".bin")


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder's entry list: new names survive a power cut)."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def seal_checkpoint(folder: str | os.PathLike) -> None:
    """After a save: every file on disk (fsync), then the manifest of sizes, then the
    folder and its parent, so the checkpoint counts as saved only once it is all there."""
    folder = Path(folder)
    sizes = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            fsync_path(path)
            sizes[path.relative_to(folder).as_posix()] = path.stat().st_size
    for sub in sorted({p.parent for p in folder.rglob("*") if p.is_file()} - {folder}):
        fsync_path(sub)
    atomic_write_json(folder / MANIFEST, {"files": sizes})
    fsync_path(folder)
    fsync_path(folder.parent)


def checkpoint_problem(folder: str | os.PathLike) -> str | None:
    """Why ``folder`` cannot be resumed from (one line), or None when it is whole."""
    folder = Path(folder)
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            return "trainer_state.json is damaged"
    except (OSError, ValueError):
        return "trainer_state.json is missing or cut short"
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        manifest = None   # saved by an older ft-tui, or the seal never finished: structure only
    if isinstance(manifest, dict):
        for name, size in manifest.items():
            path = folder / name
            if not path.is_file():
                return f"{name} is missing"
            if path.stat().st_size != size:
                return f"{name} is {path.stat().st_size} bytes, {size} were saved"
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        problem = None
        if path.suffix == ".safetensors":
            problem = _safetensors_problem(path)
        elif path.suffix in _TORCH_SUFFIXES:
            problem = _torch_problem(path)
        if problem:
            return f"{path.relative_to(folder)} {problem}"
    return None


def _safetensors_problem(path: Path) -> str | None:
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return "is cut short"
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                return "is cut short (its header runs past the end)"
            header = json.loads(fh.read(n))
    except (OSError, ValueError, UnicodeDecodeError):
        return "has a damaged header"
    ends = [v["data_offsets"][1] for k, v in header.items()
            if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v]
    if 8 + n + max(ends, default=0) != size:
        return "is cut short" if 8 + n + max(ends, default=0) > size else "has extra bytes"
    return None


def _torch_problem(path: Path) -> str | None:
    """torch.save writes a zip archive; one cut short or zero-filled has no readable
    central directory (at the end of the file)."""
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return "is cut short or damaged (not a whole torch archive)"
    return None


def is_final_checkpoint(folder: str | os.PathLike) -> bool:
    """The checkpoint of the run's last step (global_step reached max_steps)."""
    try:
        state = json.loads((Path(folder) / "trainer_state.json").read_text(encoding="utf-8"))
        return 0 < int(state.get("max_steps") or 0) <= int(state.get("global_step") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return False


# What a checkpoint holds besides the model the final save writes (transformers' Trainer:
# trainer_state.json, optimizer/scheduler/scaler state, RNG state, training arguments).
TRAINER_ONLY = ("trainer_state.json", "optimizer.pt", "scheduler.pt", "scaler.pt",
                "training_args.bin", MANIFEST)


def model_files(folder: str | os.PathLike) -> list[Path]:
    """The top-level files of a checkpoint that make up the saved model (adapter or full)."""
    return [p for p in sorted(Path(folder).iterdir()) if p.is_file()
            and p.name not in TRAINER_ONLY and not p.name.startswith("rng_state")]

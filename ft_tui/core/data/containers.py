"""Where a data set's rows live: compressed files, folders, globs, ``save_to_disk`` output.

- ``.gz`` and ``.zst`` (recognised by their magic bytes, whatever the name) are unpacked
  while reading, by gzip and zstandard, so nothing is written to disk and line numbers are
  those of the unpacked text;
- a folder or a glob (``data/*.jsonl``) is read file by file, in name order; each row's
  line is a ``FileLine``: its number in its own file, shown as ``name:line``;
- a ``datasets.save_to_disk`` folder (``state.json`` + ``data-*.arrow``) is read shard by
  shard from its Arrow files, rows numbered from 1 in each; a ``DatasetDict`` folder
  (``dataset_dict.json``) is read from its ``train`` split;
- other archives (zip, tar, bz2, xz) are named with the command that unpacks them.
"""

from __future__ import annotations

import re

import glob
import gzip
import io
import json
from pathlib import Path
from typing import IO

# Bytes that are not UTF-8 are read as these surrogates (errors="surrogateescape"), so the
# rows after them are still read and each row holding one is reported on its own.
SURROGATE = re.compile("[\ud800-\udfff]")

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
COMPRESSED_SUFFIXES = (".gz", ".gzip", ".zst", ".zstd")
DATA_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".parquet", ".arrow", ".txt")
# archives we do not unpack: (magic, name, how to unpack)
ARCHIVES = ((b"PK\x03\x04", "a zip archive", "unzip {name}"),
            (b"BZh", "bzip2-compressed", "bunzip2 -k {name}"),
            (b"\xfd7zXZ\x00", "xz-compressed", "unxz -k {name}"))


class FileLine(int):
    """A line number in one file of a multi-file data set: compares and sorts as the
    number, shows as ``name:line``."""

    source: str

    def __new__(cls, line: int, source: str) -> "FileLine":
        obj = super().__new__(cls, line)
        obj.source = source
        return obj

    def __eq__(self, other) -> bool:
        return int(self) == int(other) and getattr(other, "source", self.source) == self.source

    def __hash__(self) -> int:
        return hash((int(self), self.source))

    def __str__(self) -> str:
        return f"{self.source}:{int(self)}"

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def magic(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(8)


def compression(path: Path) -> str | None:
    """'gzip', 'zstd' or None, from the file's first bytes."""
    head = magic(path)
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


def open_bytes(path: Path) -> IO[bytes]:
    """The file's bytes, unpacked when it is gzip or zstandard."""
    kind = compression(path)
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "zstd":
        import zstandard

        raw = open(path, "rb")
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return open(path, "rb")


def unpack_errors() -> tuple[type[BaseException], ...]:
    """What gzip and zstandard raise for damaged or cut-short data."""
    import zlib

    errors: tuple[type[BaseException], ...] = (EOFError, gzip.BadGzipFile, zlib.error)
    try:
        import zstandard

        errors += (zstandard.ZstdError,)
    except ImportError:
        pass
    return errors


def read_head(path: Path, size: int) -> bytes:
    """Up to ``size`` unpacked bytes from the start; what there is when the packed data is
    cut short (the rows before the damage are still read, and the damage reported)."""
    out = b""
    with open_bytes(path) as fh:
        try:
            while len(out) < size:
                chunk = fh.read1(size - len(out)) if hasattr(fh, "read1") else fh.read(size - len(out))
                if not chunk:
                    break
                out += chunk
        except unpack_errors():
            pass
    return out


def read_all(path: Path) -> bytes:
    with open_bytes(path) as fh:
        return fh.read()


def inner_suffix(path: Path) -> str:
    """``.jsonl`` for ``rows.jsonl.gz``: the suffix of what the file holds."""
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def unsupported(path: Path) -> str | None:
    """Why this file cannot be read (an archive ft-tui does not unpack), or None."""
    head = magic(path)
    for mark, what, how in ARCHIVES:
        if head.startswith(mark):
            return (f"the file is {what}; unpack it first ({how.format(name=path.name)}) and "
                    "give the data file (or the folder) inside")
    if compression(path) and inner_suffix(path) == ".tar" or path.name.endswith(".tgz"):
        return (f"the file is a tar archive; unpack it first (tar xf {path.name}) and give "
                "the data file (or the folder) inside")
    return None


def data_files(path: Path) -> list[Path] | str:
    """The files a path names: itself, a folder's data files, a glob's matches, the Arrow
    shards of a ``save_to_disk`` folder; or a message saying why there are none."""
    text = str(path)
    if any(ch in text for ch in "*?[") and not path.exists():
        found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        return found or f"{text}: no file matches this pattern"
    if not path.is_dir():
        return [path]
    if (path / "dataset_dict.json").is_file():
        return _dataset_dict(path)
    if (path / "state.json").is_file():
        return _saved_shards(path)
    found = sorted(p for p in path.iterdir() if p.is_file() and _is_data_file(p))
    return found or (f"{path} is a folder with no data files in it (.jsonl, .json, .csv, "
                     ".parquet, .arrow, .txt, or those compressed with .gz/.zst)")


def _is_data_file(path: Path) -> bool:
    return not path.name.startswith(".") and inner_suffix(path) in DATA_SUFFIXES


def _saved_shards(folder: Path) -> list[Path] | str:
    """``Dataset.save_to_disk``: ``state.json`` lists the Arrow shards in order."""
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        names = [f["filename"] for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError):
        names = sorted(p.name for p in folder.glob("*.arrow"))
    shards = [folder / n for n in names if (folder / n).is_file()]
    return shards or f"{folder} looks like a save_to_disk folder but holds no .arrow data"


def _dataset_dict(folder: Path) -> list[Path] | str:
    """``DatasetDict.save_to_disk``: one folder per split; the train split is the data."""
    try:
        splits = json.loads((folder / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
    except (OSError, ValueError, KeyError, TypeError):
        splits = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if "train" not in splits:
        return (f"{folder} is a DatasetDict with splits {', '.join(map(str, splits))} and no "
                f"'train'; give one split's folder, e.g. {folder / str(splits[0])}"
                if splits else f"{folder} is a DatasetDict with no splits")
    return _saved_shards(folder / "train")


def label(path: Path, root: Path) -> str:
    """How a file of a multi-file set is named in messages: relative to the set's folder."""
    base = root
    if not root.is_dir():   # a glob: the folder part before the first wildcard
        parts = []
        for part in root.parts:
            if glob.has_magic(part):
                break
            parts.append(part)
        base = Path(*parts) if parts else Path(".")
    try:
        return str(path.relative_to(base))
    except ValueError:
        return path.name


def locate(root: Path, where: str) -> tuple[Path, int] | None:
    """The file and line that ``where`` (a multi-file set's ``name:line``, as ``label``
    names it) points at in the set ``root``, or None."""
    name, _, number = where.rpartition(":")
    files = data_files(root) if name and number.isdigit() else []
    if isinstance(files, str):
        return None
    found = next((f for f in files if label(f, root) == name), None)
    return (found, int(number)) if found is not None else None

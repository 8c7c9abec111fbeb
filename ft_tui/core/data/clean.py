"""Write a cleaned copy (repeats and invalid rows dropped) or a train/eval split of a data
file, beside the original and in its own format. The original is never overwritten, and
each output appears atomically (temp file, then rename).

Rows are copied verbatim (JSONL and text lines, JSON array elements), so nothing the
user wrote is reformatted. CSV and Parquet come out as chat JSONL.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from ft_tui.core.data.checks import SetChecks
from ft_tui.core.data.containers import compression
from ft_tui.core.data.loader import ExampleStream
from ft_tui.core.data.readers import BOM, array_elements, file_kind
from ft_tui.core.data.split import split_examples
from ft_tui.core.data.types import Example


class CleanRefused(ValueError):
    """The copy would silently lose rows; the message says which and what to do."""


def write_cleaned(path: str | os.PathLike, out: str | os.PathLike | None = None,
                  dedupe: bool = True, drop_invalid: bool = True,
                  removed: dict[str, list[int]] | None = None) -> Path:
    """Write ``<name>.cleaned<suffix>`` (or ``out``) without exact/near-duplicate repeats
    (``dedupe``) and rows with errors (``drop_invalid``). Returns the written path; a
    ``removed`` dict is filled with the dropped lines by reason ("duplicate", "invalid").

    Cleaning a ``.cleaned`` file again rewrites it in place (it is ours, not the user's),
    so the actions chain: deduplicate, then drop invalid rows, both in one file. Refuses
    (CleanRefused) when rows cannot be decoded, rather than silently lose them."""
    path = Path(path)
    stream = ExampleStream(path)
    checks = SetChecks()
    examples: list[Example] = []   # only when rows are rewritten; else their lines suffice
    rewrite = _rewritten(path)
    valid: list[int] = []
    bad_lines: set[int] = set()
    undecodable: list[int] = []
    for item in stream:
        if isinstance(item, Example):
            checks.add(item)
            valid.append(item.line)
            if rewrite:
                examples.append(item)
        else:
            bad_lines.add(item.line)
            if item.code == "not_utf8":
                undecodable.append(item.line)
    if undecodable:
        shown = ", ".join(map(str, undecodable[:10])) + (" …" if len(undecodable) > 10 else "")
        raise CleanRefused(f"{len(undecodable)} row(s) are not UTF-8 text (lines {shown}); a "
                           "cleaned copy would silently lack them. Re-save the file as UTF-8 "
                           "(e.g. `iconv -f cp1252 -t utf-8`) and clean again")
    drop: set[int] = set()
    if dedupe:
        drop.update(repeat for _, repeat in checks.duplicates + checks.near_duplicates)
    keep = {line for line in valid if line not in drop}
    if not drop_invalid:
        keep |= bad_lines
    if removed is not None:
        removed["duplicate"] = sorted(drop)
        removed["invalid"] = sorted(bad_lines) if drop_invalid else []
    target = Path(out) if out is not None else (
        path if path.stem.endswith(".cleaned") else _beside(path, "cleaned"))
    _copy_rows(path, keep, examples, target)
    return target


def write_split(path: str | os.PathLike, eval_fraction: float = 0.1, seed: int = 42,
                ) -> tuple[Path, Path]:
    """Split the valid examples (see ``split_examples``) into ``<name>.train<suffix>`` and
    ``<name>.eval<suffix>`` beside the original; rows with errors go to neither. When
    either name is taken (an earlier split, the user's own eval file), the pair becomes
    ``<name>.train-2<suffix>`` / ``<name>.eval-2<suffix>`` (or the next free number):
    an existing file is never replaced."""
    path = Path(path)
    examples = [item for item in ExampleStream(path) if isinstance(item, Example)]
    train, held_out = split_examples(examples, eval_fraction, seed)
    targets = _free_split_names(path)
    for part, target in zip((train, held_out), targets):
        _copy_rows(path, {ex.line for ex in part}, part, target)
    return targets


def _free_split_names(path: Path) -> tuple[Path, Path]:
    number = 1
    while True:
        tag = "" if number == 1 else f"-{number}"
        pair = (_beside(path, f"train{tag}"), _beside(path, f"eval{tag}"))
        if not any(os.path.lexists(p) for p in pair):
            return pair
        number += 1


def _beside(path: Path, tag: str) -> Path:
    if _rewritten(path):   # written as chat JSONL, named after what it holds
        if glob.has_magic(str(path)) and not path.exists():
            raise CleanRefused("a cleaned copy or split of a file pattern has no one place to "
                               "go; give the folder that holds the files instead")
        stem = path.name.split(".")[0] if path.is_file() else path.name
        return path.with_name(f"{stem}.{tag}.jsonl")
    return path.with_name(f"{path.stem}.{tag}{path.suffix}")


def _rewritten(path: Path) -> bool:
    """Rows that cannot be copied verbatim (tables, packed files, several files) are
    written out as chat JSONL."""
    return (not path.is_file() or compression(path) is not None
            or file_kind(path) in ("csv", "parquet", "arrow", "binary"))


def _copy_rows(source: Path, keep: set[int], examples: list[Example], target: Path) -> None:
    if target.resolve() == source.resolve() and not source.stem.endswith(".cleaned"):
        raise ValueError(f"refusing to overwrite the original file {source}")
    kind = "table" if _rewritten(source) else file_kind(source)
    if kind in ("jsonl", "text"):
        chunks = _kept_lines(source, keep)
    elif kind == "json_array":
        chunks = _kept_elements(source, keep)
    elif kind == "json_object":
        chunks = iter([source.read_text(encoding="utf-8-sig") if 1 in keep else "[]\n"])
    else:
        chunks = (json.dumps(ex.to_dict(), ensure_ascii=False) + "\n"
                  for ex in examples if ex.line in keep)
    _atomic_write_chunks(target, chunks)
    try:  # the copy is as readable as the original (mkstemp makes it 0600)
        target.chmod(source.stat().st_mode & 0o777 if source.is_file() else 0o644)
    except OSError:
        pass


def _kept_lines(source: Path, keep: set[int]) -> Iterator[str]:
    with open(source, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number in keep:
                if number == 1:
                    raw = raw.removeprefix(BOM)
                yield raw.rstrip(b"\r\n").decode("utf-8", errors="replace") + "\n"


def _kept_elements(source: Path, keep: set[int]) -> Iterator[str]:
    data = source.read_bytes()
    text = data.removeprefix(BOM).decode("utf-8", errors="surrogateescape")
    kept = [text[start:end] for line, start, end, _ in array_elements(data)
            if line in keep and end > start]
    yield "[\n"
    for i, element in enumerate(kept):
        element = element.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
        yield "  " + element + (",\n" if i < len(kept) - 1 else "\n")
    yield "]\n"


def _atomic_write_chunks(target: Path, chunks: Iterable[str]) -> None:
    """Stream ``chunks`` into a temp file beside ``target``, fsync, then rename over it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

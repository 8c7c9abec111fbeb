"""Write a cleaned copy (repeats and invalid rows dropped) or a train/eval split of a data
file, beside the original and in its own format. The original is never overwritten, and
each output appears atomically (temp file, then rename).

Rows are copied verbatim (JSONL and text lines, JSON array elements), so nothing the
user wrote is reformatted. CSV and Parquet come out as chat JSONL.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from ft_tui.core.data.checks import SetChecks
from ft_tui.core.data.loader import ExampleStream
from ft_tui.core.data.readers import BOM, array_elements, file_kind
from ft_tui.core.data.split import split_examples
from ft_tui.core.data.types import Example


def write_cleaned(path: str | os.PathLike, out: str | os.PathLike | None = None,
                  dedupe: bool = True, drop_invalid: bool = True) -> Path:
    """Write ``<name>.cleaned<suffix>`` (or ``out``) without exact/near-duplicate repeats
    (``dedupe``) and rows with errors (``drop_invalid``). Returns the written path."""
    path = Path(path)
    stream = ExampleStream(path)
    checks = SetChecks()
    examples: list[Example] = []
    bad_lines: set[int] = set()
    for item in stream:
        if isinstance(item, Example):
            checks.add(item)
            examples.append(item)
        else:
            bad_lines.add(item.line)
    drop: set[int] = set()
    if dedupe:
        drop.update(repeat for _, repeat in checks.duplicates + checks.near_duplicates)
    keep = {ex.line for ex in examples if ex.line not in drop}
    if not drop_invalid:
        keep |= bad_lines
    target = Path(out) if out is not None else _beside(path, "cleaned")
    _copy_rows(path, keep, examples, target)
    return target


def write_split(path: str | os.PathLike, eval_fraction: float = 0.1, seed: int = 42,
                ) -> tuple[Path, Path]:
    """Split the valid examples (see ``split_examples``) into ``<name>.train<suffix>`` and
    ``<name>.eval<suffix>`` beside the original; rows with errors go to neither."""
    path = Path(path)
    examples = [item for item in ExampleStream(path) if isinstance(item, Example)]
    train, held_out = split_examples(examples, eval_fraction, seed)
    outputs = []
    for part, name in ((train, "train"), (held_out, "eval")):
        target = _beside(path, name)
        _copy_rows(path, {ex.line for ex in part}, part, target)
        outputs.append(target)
    return outputs[0], outputs[1]


def _beside(path: Path, tag: str) -> Path:
    suffix = path.suffix if file_kind(path) not in ("csv", "parquet") else ".jsonl"
    return path.with_name(f"{path.stem}.{tag}{suffix}")


def _copy_rows(source: Path, keep: set[int], examples: list[Example], target: Path) -> None:
    if target.resolve() == source.resolve():
        raise ValueError(f"refusing to overwrite the original file {source}")
    kind = file_kind(source)
    if kind in ("jsonl", "text"):
        chunks = _kept_lines(source, keep)
    elif kind == "json_array":
        chunks = _kept_elements(source, keep)
    else:
        chunks = (json.dumps(ex.to_dict(), ensure_ascii=False) + "\n"
                  for ex in examples if ex.line in keep)
    _atomic_write_chunks(target, chunks)


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

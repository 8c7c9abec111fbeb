"""Tables: CSV, Parquet and Arrow files, row by row, each row with its 1-based number.

CSV is read with the standard (Excel) quoting rules: a cell in double quotes may hold the
delimiter, newlines, and ``""`` for one quote, which is how pandas, Excel and Google
Sheets write text holding a quote. Only the delimiter is sniffed (spreadsheets in many
locales write ';'). A second parser (pyarrow's) counts the rows of the same file, and a
different count is reported, since it means the quoting is ambiguous and rows may have
been split inside cells.
"""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path
from typing import Iterator

from ft_tui.core.data.containers import SURROGATE, open_bytes
from ft_tui.core.data.types import Issue

Row = tuple[int, object]

_JSON_COLUMNS = ("messages", "conversations", "prompt", "completion", "chosen", "rejected")
CSV_DELIMITERS = ",;\t|"


def table_row(row: dict) -> dict:
    """CSV cells are strings: decode the chat columns that hold JSON lists."""
    out = {}
    for key, value in row.items():
        if key is None:
            continue
        if isinstance(value, str) and key in _JSON_COLUMNS and value.lstrip().startswith("["):
            try:
                value = json.loads(value)
            except ValueError:
                pass  # keep the text: the format check then reports the wrong type
        out[key] = value
    return out


def csv_delimiter(header: str) -> str:
    """The delimiter of a CSV, from its header line: the candidate that occurs most outside
    quotes; ',' when none does."""
    import re

    bare = re.sub(r'"[^"]*"', "", header)
    counts = {d: bare.count(d) for d in CSV_DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def csv_rows(path: Path) -> Iterator[Row]:
    import csv

    # Bad bytes are kept as surrogates so the rows after them are still read; each row
    # holding one is reported on its own.
    with io.TextIOWrapper(open_bytes(path), encoding="utf-8-sig", errors="surrogateescape",
                          newline="") as fh:
        first = fh.readline()   # no seek: a zstandard stream reads forward only
        delimiter = csv_delimiter(first)
        # excel dialect: a quoted cell may hold the delimiter, newlines and "" for a quote
        reader = csv.DictReader(itertools.chain([first], fh), delimiter=delimiter)
        start, records = 2, 0
        try:
            header = reader.fieldnames or []
            problem = _header_problem(header, delimiter)
            if problem:
                yield 1, Issue(1, "unknown_format", problem)
                return
            for row in reader:
                records += 1
                cells = [v for v in row.values() if isinstance(v, str)]
                if any(v.strip() for v in cells):
                    if any(SURROGATE.search(v) for v in cells):
                        yield start, Issue(start, "not_utf8", "this row holds bytes that are not "
                                                              "UTF-8; re-save the file as UTF-8")
                    else:
                        yield start, table_row(row)
                start = reader.line_num + 1
        except csv.Error as exc:
            yield start, Issue(start, "invalid_csv", f"cannot parse this CSV row: {exc}; "
                                                     "check its quotes")
            return
    other = _pyarrow_csv_count(path, delimiter)
    if isinstance(other, str):
        yield 1, Issue(1, "invalid_csv", f"Python's csv module read {records} rows, but pyarrow "
                                         f"cannot parse this file ({other}). Some quotes are "
                                         "probably unbalanced, so rows may be joined inside "
                                         "cells; open it in a spreadsheet, check the quotes, "
                                         "and save it again as CSV (or as JSONL)")
    elif other is not None and other != records:
        yield 1, Issue(1, "invalid_csv", f"two CSV parsers disagree on this file: Python's csv "
                                         f"module read {records} rows, pyarrow read {other}. "
                                         "Some quotes are probably unbalanced, so rows may be "
                                         "split or joined inside cells; open it in a spreadsheet, "
                                         "check the rows named here, and save it again as CSV "
                                         "(or as JSONL)")


def _pyarrow_csv_count(path: Path, delimiter: str) -> int | str | None:
    """The data rows pyarrow's CSV reader finds (streamed, so memory stays flat), or its
    parse error; None when it cannot tell (bad bytes are reported row by row already)."""
    try:
        import pyarrow.csv as pacsv

        reader = pacsv.open_csv(
            open_bytes(path), read_options=pacsv.ReadOptions(block_size=1 << 22),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={}, strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False))
        return sum(batch.num_rows for batch in reader)
    except ImportError:
        return None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types
        text = str(exc)
        if "CSV parse error" not in text:
            return None   # bad bytes, an empty file: said row by row or not a quoting problem
        return text.split("\n", 1)[0].removesuffix('"').rstrip(": ")


def _header_problem(header: list[str], delimiter: str) -> str | None:
    """A problem of the whole file, said once: a header no format can use."""
    from ft_tui.core.data.aliases import resolve_aliases
    from ft_tui.core.data.formats import describe_keys, detect_format

    if not header:
        return "the CSV has no header row; the first row must name the columns"
    if detect_format(resolve_aliases(dict.fromkeys(header, ""))[0]) is not None:
        return None
    hint = ""
    if len(header) == 1 and any(d in header[0] for d in CSV_DELIMITERS if d != delimiter):
        hint = " (the columns look separated by another character; save it as comma-separated)"
    what = describe_keys(dict.fromkeys(header, "")).replace("an object with", "the CSV header has", 1)
    return (f"{what}, which matches no format{hint}. Every row is unreadable until the columns "
            "are renamed")


def parquet_rows(path: Path) -> Iterator[Row]:
    try:
        import pyarrow.parquet as pq  # comes with `datasets`

        table = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        yield 1, Issue(1, "unknown_format", f"cannot read this file as Parquet: {exc}")
        return
    yield from batch_rows(table.iter_batches(batch_size=1024))


def arrow_rows(path: Path) -> Iterator[Row]:
    """An Arrow IPC file or stream (what ``datasets`` writes in its cache and
    ``save_to_disk`` folders), memory-mapped and read in batches."""
    try:
        import pyarrow as pa

        source = pa.memory_map(str(path))
        try:
            reader = pa.ipc.open_stream(source)
            batches = iter(reader)
        except pa.ArrowInvalid:
            source.seek(0)
            file = pa.ipc.open_file(source)
            batches = (file.get_batch(i) for i in range(file.num_record_batches))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        yield 1, Issue(1, "unknown_format", f"cannot read this file as Arrow: {exc}")
        return
    yield from batch_rows(batches)


def batch_rows(batches, first: int = 1) -> Iterator[Row]:
    number = first - 1
    for batch in batches:
        for row in batch.to_pylist():
            number += 1
            yield number, table_row(row)

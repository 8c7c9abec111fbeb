"""Read a data file row by row, each row with the 1-based physical line it starts on.

Readers yield ``(line, value)`` where value is a parsed JSON value, a text line (str), or
an ``Issue`` for a row that cannot be read (bad JSON, bad bytes). They never raise on bad
content. JSONL and text stream line by line; a JSON array is read whole (it is one value)
but each element still reports the line where it starts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

from ft_tui.core.data.containers import (SURROGATE, inner_suffix, magic, open_bytes, read_all,
                                         read_head)
from ft_tui.core.data.types import Issue

BOM = b"\xef\xbb\xbf"
TEXT_SUFFIXES = {".txt", ".text", ".md"}
JSON_SUFFIXES = {".jsonl", ".json", ".ndjson"}

Row = tuple[int, Any]


def file_kind(path: Path) -> str:
    """'jsonl', 'json_array', 'json_object', 'text', 'csv', 'parquet', 'arrow' or 'binary',
    from the suffix (inside a .gz/.zst) and the first bytes."""
    suffix = inner_suffix(path)
    head = magic(path)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1") or suffix == ".arrow" or head.startswith(b"\xff\xff\xff\xff"):
        return "arrow"
    if suffix == ".csv":
        return "csv"
    if suffix == ".parquet":
        return "parquet"
    if suffix in TEXT_SUFFIXES:
        return "text"
    head = read_head(path, 65536)
    if b"\0" in head and not _utf16(head):
        return "binary"   # never read as lines of text
    first = head.removeprefix(BOM).lstrip()[:1]
    if first == b"[":
        return "json_array"
    if first == b"{" and suffix == ".json" and _one_json_object(path, head):
        return "json_object"
    if first == b"{" or not first or suffix in JSON_SUFFIXES:
        return "jsonl"
    return "text"


def _utf16(head: bytes) -> bool:
    return head[:2] in (b"\xff\xfe", b"\xfe\xff") or head.count(b"\0") > len(head) // 4


MAX_JSON_OBJECT_BYTES = 256 * 1024 * 1024


def _one_json_object(path: Path, head: bytes) -> bool:
    """A ``.json`` file holding one (pretty-printed) object rather than JSON lines."""
    lines = [ln for ln in head.split(b"\n") if ln.strip()]
    if len(lines) < 2 or path.stat().st_size > MAX_JSON_OBJECT_BYTES:
        return False
    try:
        return isinstance(json.loads(read_all(path).removeprefix(BOM)), dict)
    except (ValueError, RecursionError):
        return False


def read_rows(path: Path, kind: str) -> Iterator[Row]:
    from ft_tui.core.data.tables import arrow_rows, csv_rows, parquet_rows

    reader = {"jsonl": _jsonl_rows, "json_array": _array_rows, "text": _text_rows,
              "csv": csv_rows, "parquet": parquet_rows, "arrow": arrow_rows,
              "json_object": _object_rows, "binary": _binary_rows}[kind]
    return reader(path)


def _object_rows(path: Path) -> Iterator[Row]:
    """One object is one example; an object that wraps the rows in a list is named as such."""
    value = json.loads(read_all(path).removeprefix(BOM))
    lists = [k for k, v in value.items() if isinstance(v, list) and v and isinstance(v[0], dict)
             and k not in ("messages", "conversations", "chosen", "rejected", "prompt",
                           "completion", "chosen_messages", "rejected_messages", "tools")]
    if lists and len(value) <= 3:
        key = lists[0]
        yield 1, Issue(1, "unknown_format", f"the file is one JSON object whose {key!r} holds "
                                            f"{len(value[key])} rows; write the rows as a "
                                            "top-level JSON array or one per line (JSONL)")
        return
    yield 1, value


def _decoded_lines(path: Path) -> Iterator[tuple[int, str | Issue]]:
    """Non-blank physical lines as text, BOM and CR/LF removed; bad bytes become Issues."""
    with open_bytes(path) as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1:
                raw = raw.removeprefix(BOM)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, _not_utf8(number, raw, exc)
                continue
            if text.strip():
                yield number, text.rstrip("\r\n")


def _not_utf8(line: int, raw: bytes, exc: UnicodeDecodeError) -> Issue:
    byte = raw[exc.start:exc.start + 1].hex()
    return Issue(line, "not_utf8", f"byte 0x{byte} at column {exc.start + 1} is not UTF-8; "
                                   "re-save the file as UTF-8")


def _jsonl_rows(path: Path) -> Iterator[Row]:
    loads = json.loads
    for number, text in _decoded_lines(path):
        if isinstance(text, Issue):
            yield number, text
            continue
        try:
            value = loads(text)
        except json.JSONDecodeError as exc:
            yield number, Issue(number, "invalid_json", _json_message(exc, text))
            continue
        except (ValueError, RecursionError) as exc:  # huge numbers, absurd nesting
            yield number, Issue(number, "invalid_json", f"cannot read this JSON: {exc}")
            continue
        if isinstance(value, str):   # a bare JSON string is no example (and no text line)
            yield number, Issue(number, "unknown_format", "the line is a JSON string, not an "
                                                          "object; each line must be one JSON "
                                                          "object such as {\"messages\": [...]}")
            continue
        if "\\u" in text and _has_surrogate(value):
            yield number, Issue(number, "not_utf8", "a \\uD8xx escape encodes half a character "
                                                    "(unpaired surrogate); fix the text")
            continue
        yield number, value


def _json_message(exc: json.JSONDecodeError, text: str) -> str:
    hint = "each line must be one complete JSON object"
    stripped = text.strip()
    trailing = re.search(r",\s*[}\]]", text)
    if stripped in ("{", "[", "}", "]", "},", "],") or stripped.startswith('"'):
        hint = ("this looks like pretty-printed JSON: put each example on one line (JSONL) "
                "or wrap the examples in a JSON array")
    elif stripped.startswith("'") or "{'" in stripped:
        hint = "JSON needs double quotes, not single quotes"
    elif trailing and trailing.start() <= exc.pos <= trailing.end():
        hint = (f"a trailing comma at column {trailing.start() + 1} before "
                f"'{text[trailing.end() - 1]}'; JSON allows none, remove it")
    return f"invalid JSON: {_msg(exc)} at column {exc.colno}; {hint}"


def _msg(exc: json.JSONDecodeError) -> str:
    # "Unterminated string starting at" + " at column 5" would say "at at"
    return exc.msg.removesuffix(" at").removesuffix(" starting")


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _binary_rows(path: Path) -> Iterator[Row]:
    yield 1, Issue(1, "unknown_format", "the file holds binary data, not text, and is not "
                                        "Parquet or Arrow; give a .jsonl, .json, .csv, .parquet "
                                        "or .arrow file (or one of those as .gz/.zst)")


def _text_rows(path: Path) -> Iterator[Row]:
    yield from _decoded_lines(path)


# ----- JSON array -----------------------------------------------------------------------

def array_elements(data: bytes) -> Iterator[tuple[int, int, int, Any]]:
    """``(line, start, end, value_or_issue)`` for each element of a top-level JSON array.

    ``start:end`` is the element's slice of the decoded text (used to copy it verbatim).
    Bad bytes are decoded with surrogateescape so the rest of the array still parses; an
    element holding one is reported as not_utf8.
    """
    text = data.removeprefix(BOM).decode("utf-8", errors="surrogateescape")
    decoder = json.JSONDecoder()
    ws = re.compile(r"\s*")
    pos = ws.match(text, 0).end()
    if not text.startswith("[", pos):
        yield 1, 0, 0, Issue(1, "invalid_json", "the file does not start with a JSON array '['")
        return
    pos += 1
    line, counted = _line_at(text, pos), pos
    while True:
        pos = ws.match(text, pos).end()
        if pos >= len(text):
            at = _line_at(text, pos)
            yield at, pos, pos, Issue(at, "invalid_json", "the JSON array is not closed; add ']' at the end")
            return
        if text[pos] == "]":
            rest = ws.match(text, pos + 1).end()
            if rest < len(text):
                at = _line_at(text, rest)
                yield at, rest, rest, Issue(at, "invalid_json", "extra data after the closing ']'")
            return
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            at = getattr(exc, "lineno", line)
            msg = _msg(exc) if isinstance(exc, json.JSONDecodeError) else str(exc)
            yield at, pos, pos, Issue(at, "invalid_json", f"invalid JSON in the array element "
                                                          f"starting on line {line}: {msg}")
            pos = _resync(text, pos)
            if pos is None:
                return
            continue
        bad = SURROGATE.search(text, pos, end)
        if bad:
            at = _line_at(text, bad.start())
            yield line, pos, end, Issue(line, "not_utf8", f"line {at} holds bytes that are not "
                                                          "UTF-8; re-save the file as UTF-8")
        else:
            yield line, pos, end, value
        pos = ws.match(text, end).end()
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] != "]":
            at = _line_at(text, pos)
            yield at, pos, pos, Issue(at, "invalid_json", "expected ',' or ']' after the array "
                                                          f"element starting on line {line}")
            # Carry on as if the comma were there; garbage fails the next parse and resyncs.


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _resync(text: str, failed_at: int) -> int | None:
    """After a broken element, the start of the next element written at the same
    indentation (pretty-printed arrays); None when there is no safe place to resume."""
    line_start = text.rfind("\n", 0, failed_at) + 1
    indent = text[line_start:failed_at]
    if indent.strip():
        return None  # the element did not start its own line (compact array)
    found = re.compile(r"\n" + re.escape(indent) + r"(?=[{\[])").search(text, failed_at + 1)
    return found.end() if found else None


def _array_rows(path: Path) -> Iterator[Row]:
    for line, _start, _end, value in array_elements(read_all(path)):
        yield line, value



"""``load_examples``: any supported file in, normalised examples and line-numbered errors out.

The first recognisable row fixes the file's format; a later row in another format is a
``mixed_format`` error rather than silently mixed training data.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Iterator

from ft_tui.core.data.aliases import (OASST_MESSAGE_ADVICE, is_oasst_message, is_oasst_tree,
                                      oasst_thread, rename_advice, resolve_aliases)
from ft_tui.core.data.formats import (NORMALISERS, TEXT_SEPARATOR, describe_keys, detect_format,
                                      text_messages)
from ft_tui.core.data.containers import (FileLine, compression, data_files, label, read_head,
                                         unpack_errors, unsupported)
from ft_tui.core.data.readers import file_kind, read_rows
from ft_tui.core.data.types import Example, Issue, IssueLog, LoadResult, RowError

FORMAT_HINT = ('{"messages": [...]}, {"conversations": [...]}, {"instruction", "output"}, '
               '{"prompt", "completion"}, {"text"}, or preference pairs {"prompt", "chosen", '
               '"rejected"}')


class ExampleStream:
    """Iterate a file as ``Example`` or ``Issue`` items, one per row, in file order.

    ``format`` is known once the first recognisable row has been read. Nothing here
    raises on bad content; a missing path raises FileNotFoundError when iteration starts.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.format: str | None = None
        self._format_line = 0
        self._text_uses_separator: bool | None = None
        self.media_lines: list[int] = []   # rows with images/audio/video, said once per file
        self.renamed: tuple[int, str] | None = None  # (first line, "'response' as 'output'")
        self.oasst_trees = 0               # Open Assistant trees read as their best thread
        self.files: list[Path] = []        # the files read (several for a folder or glob)
        self._source: str | None = None    # the file being read, named in a multi-file set

    def __iter__(self) -> Iterator[Example | Issue]:
        files = data_files(self.path)
        if isinstance(files, str):
            if self.path.is_dir() or glob.has_magic(str(self.path)):
                yield Issue(1, "unknown_format", files)
                return
            raise FileNotFoundError(files)
        if not files[0].is_file():
            raise FileNotFoundError(f"{self.path}: no such file")
        self.files = files
        for path in files:
            name = self._source = label(path, self.path) if len(files) > 1 else None
            for item in self._file_items(path):
                if name is not None and isinstance(item, Example):  # its own line, with its file
                    item.line = FileLine(item.line, name)
                elif name is not None:
                    item = Issue(FileLine(item.line, name), item.code, item.message, item.rows)
                yield item

    def _file_items(self, path: Path) -> Iterator[Example | Issue]:
        refused = unsupported(path)
        if refused:
            yield Issue(1, "compressed", refused)
            return
        packed = compression(path)
        if packed is None:
            yield from self._rows_of(path)
            return
        last = 0
        try:
            for item in self._rows_of(path):
                last = item.line
                yield item
        except unpack_errors() as exc:
            yield Issue(last + 1, "compressed", f"the {packed} data is damaged or cut short after "
                                                f"line {last} ({exc}); download or pack it again")

    def _rows_of(self, path: Path) -> Iterator[Example | Issue]:
        kind = file_kind(path)
        encoding = kind not in ("parquet", "arrow", "binary") and _wrong_encoding(path)
        if encoding:
            yield Issue(1, "not_utf8", encoding)
            return
        array = kind == "json_array"
        for index, (line, value) in enumerate(read_rows(path, kind)):
            if isinstance(value, Issue):
                yield value
            elif isinstance(value, str):
                yield self._text_line(line, value)
            else:
                item = self._json_row(line, value)
                if array and isinstance(item, Issue):  # a one-line array: line 1 for them all
                    item = Issue(line, item.code, f"array element [{index}]: {item.message}")
                yield item

    def _json_row(self, line: int, row: Any) -> Example | Issue:
        row, renamed = resolve_aliases(row)
        if renamed and self.renamed is None:
            self.renamed = (self._at(line), renamed)
        if is_oasst_tree(row):
            row = oasst_thread(row)
            self.oasst_trees += 1
        fmt = detect_format(row)
        if fmt is None:
            if is_oasst_message(row):
                return Issue(line, "unknown_format", OASST_MESSAGE_ADVICE)
            return Issue(line, "unknown_format", f"the row is {describe_keys(row)}, which "
                                                 f"matches no format; {_advice(row)}")
        if self.format is None:
            self.format, self._format_line = fmt, self._at(line)
        elif fmt != self.format:
            return Issue(line, "mixed_format", f"this row is {fmt} but the {self._whole} is "
                                               f"{self.format} (from {_where(self._format_line)}); "
                                               "convert it or move it to its own file")
        try:
            if fmt == "text":
                text = row["text"]
                if not isinstance(text, str):
                    raise RowError("wrong_type", "'text' must be a string")
                fields = {"messages": self._text_messages(text), "weight": None}
            else:
                fields = NORMALISERS[fmt](row)
        except RowError as err:
            return Issue(line, err.code, err.message)
        if _has_media(row, fields["messages"]):
            self.media_lines.append(self._at(line))
        return Example(line, fmt=fmt, **fields)

    def _text_line(self, line: int, text: str) -> Example | Issue:
        if self.format is None:
            self.format, self._format_line = "text", self._at(line)
        try:
            return Example(line, self._text_messages(text), None, "text")
        except RowError as err:
            return Issue(line, err.code, err.message)

    def _text_messages(self, text: str) -> list[dict[str, Any]]:
        has_separator = TEXT_SEPARATOR in text
        if self._text_uses_separator is None and text.strip():
            self._text_uses_separator = has_separator
        elif self._text_uses_separator and not has_separator:
            raise RowError("missing_field", f"no '{TEXT_SEPARATOR}' between input and output, "
                                            f"unlike the rest of the {self._whole} (from "
                                            f"{_where(self._format_line)}); write 'input "
                                            f"{TEXT_SEPARATOR} output'")
        return text_messages(text)

    def _at(self, line: int) -> int:
        """A line of the file being read, as messages about other rows cite it: with its
        file in a multi-file set (``part-1.jsonl:3``)."""
        return FileLine(line, self._source) if self._source is not None else line

    @property
    def _whole(self) -> str:
        return "data set" if self._source is not None else "file"


def _where(line: int) -> str:
    """``line 3``, or ``part-1.jsonl:3`` for a line of a multi-file set."""
    return str(line) if hasattr(line, "source") else f"line {line}"


def _advice(row: Any) -> str:
    if isinstance(row, dict) and row:
        return f"{rename_advice(row)}. The layouts ft-tui reads: {FORMAT_HINT}"
    return f"expected one of {FORMAT_HINT}"


MEDIA_KEYS = ("images", "videos", "audios", "image", "video", "audio")
MEDIA_MARKERS = ("<image>", "<video>", "<audio>")


def _has_media(row: dict, messages: list[dict[str, Any]]) -> bool:
    if any(row.get(key) for key in MEDIA_KEYS):
        return True
    return any(marker in m["content"] for m in messages for marker in MEDIA_MARKERS
               if "<" in m["content"])


def _wrong_encoding(path: Path) -> str | None:
    """UTF-16 files, named as such (they would read as lines of bad bytes)."""
    head = read_head(path, 4096)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or _looks_utf16(head):
        return (f"the file is UTF-16 (or UTF-32) text; re-save it as UTF-8, e.g. "
                f"iconv -f UTF-16 -t UTF-8 {path.name} > {path.stem}.utf8{path.suffix}")
    return None


def _looks_utf16(head: bytes) -> bool:
    """UTF-16/32 text without a BOM: NULs on one byte parity beside text on the other. A
    run of NULs (a block a crash never wrote) has them on both, and is not UTF-16: its
    lines are reported as bad rows instead."""
    if len(head) < 4:
        return False
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    return max(even, odd) > half // 2 and min(even, odd) < half // 10


def load_examples(path: str | os.PathLike) -> LoadResult:
    """Read and check a whole file. Never raises on bad content; a missing path raises
    FileNotFoundError."""
    stream = ExampleStream(path)
    result = LoadResult(str(path), None)
    log = IssueLog()
    for item in stream:
        if isinstance(item, Example):
            result.examples.append(item)
        else:
            log.add(item)
    result.errors = log.result(len(result.examples))
    result.format = stream.format
    return result

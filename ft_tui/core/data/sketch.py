"""Fixed-size per-row state for the whole-set checks, so inspecting a million rows stays
well under a gigabyte.

``FirstSeen`` maps a 64-bit hash to the line where it was first seen (plus a few fixed
fields), in numpy arrays with open addressing: about 2 x 12 bytes of table plus the
fields a row, where a Python dict of ints costs about 100 and a set of word hashes
kilobytes.
``word_sketch`` replaces an answer's set of word hashes with a 512-bit fingerprint whose
AND/OR popcounts estimate the word overlap of two answers.
"""

from __future__ import annotations

import numpy as np

_EMPTY = 0
SKETCH_WORDS = 64   # the first 64 words of an answer make its fingerprint


class FirstSeen:
    """``int hash -> record`` of the first row with it: its line and the extra fields.

    The hash table holds only keys and record numbers (12 bytes a slot, at most 4 slots in
    3 used); the records sit densely in insertion order, so each row costs its fields and
    nothing more."""

    def __init__(self, fields: tuple[tuple[str, str], ...] = (), capacity: int = 1 << 12):
        self._keys = np.zeros(capacity, dtype="i8")
        self._index = np.zeros(capacity, dtype="u4")
        self._mask = capacity - 1
        self._records = np.zeros(capacity // 2, dtype=[("line", "u4"), ("src", "u2"), *fields])
        self._sources: dict[str, int] = {}   # files of a multi-file set (FileLine)
        self.size = 0

    def find_or_add(self, key: int, line: int, **fields) -> np.void | None:
        """The record of the first row with ``key`` (its line and fields), or None after
        adding one for this row with ``line`` and ``fields``."""
        key = (key & 0x7FFFFFFFFFFFFFFF) or 1   # 0 marks an empty slot
        keys, i = self._keys, key & self._mask
        while True:
            found = int(keys[i])
            if found == key:
                return self._records[int(self._index[i])]
            if found == _EMPTY:
                break
            i = (i + 1) & self._mask
        if self.size == len(self._records):
            self._records = np.resize(self._records, 2 * self.size)
        record = self._records[self.size]
        record["line"] = line
        source = getattr(line, "source", None)
        if source is not None:
            record["src"] = self._sources.setdefault(source, len(self._sources) + 1)
        for name, value in fields.items():
            record[name] = value
        keys[i], self._index[i] = key, self.size
        self.size += 1
        if self.size * 4 > len(keys) * 3:
            self._grow()
        return None

    def first_line(self, record: np.void) -> int:
        """The line stored in ``record`` (a ``FileLine`` again for a multi-file set)."""
        line, src = int(record["line"]), int(record["src"])
        if not src:
            return line
        from ft_tui.core.data.containers import FileLine

        name = next(n for n, i in self._sources.items() if i == src)
        return FileLine(line, name)

    def _grow(self) -> None:
        used = self._keys != _EMPTY
        old_keys, old_index = self._keys[used], self._index[used]
        capacity = len(self._keys) * 2
        self._keys = np.zeros(capacity, dtype="i8")
        self._index = np.zeros(capacity, dtype="u4")
        self._mask = capacity - 1
        for key, index in zip(old_keys.tolist(), old_index.tolist()):  # log2(n) times in all
            i = key & self._mask
            while self._keys[i] != _EMPTY:
                i = (i + 1) & self._mask
            self._keys[i], self._index[i] = key, index

    @property
    def nbytes(self) -> int:
        return self._keys.nbytes + self._index.nbytes + self._records.nbytes


SKETCH_BITS = 512   # 64 unrelated words share ~7 of ~60 set bits: overlap ~0.07, not 0.15


def word_sketch(text: str) -> tuple[bytes, int]:
    """``(fingerprint, word count)``: each of the first 64 words sets one of 512 bits."""
    words = text.lower().split()[:SKETCH_WORDS]
    bits = 0
    for word in words:
        bits |= 1 << (hash(word) & (SKETCH_BITS - 1))
    return bits.to_bytes(SKETCH_BITS // 8, "little"), len(words)


def sketch_overlap(a: bytes, b: bytes) -> float:
    """Estimated share of words two answers have in common (Jaccard of their bits)."""
    x, y = int.from_bytes(a, "little"), int.from_bytes(b, "little")
    union = (x | y).bit_count()
    return (x & y).bit_count() / union if union else 1.0

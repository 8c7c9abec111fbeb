"""Do the outputs look like class labels? Used for stratified splits, the label
histogram, class-imbalance warnings and guessing the task type."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

MAX_LABEL_CHARS = 40
MAX_LABEL_WORDS = 4
MAX_DISTINCT_LABELS = 50


def looks_like_label(text: str) -> bool:
    """A short single-line answer such as ``BILL-02`` or ``positive``."""
    text = text.strip()
    return (0 < len(text) <= MAX_LABEL_CHARS and "\n" not in text
            and len(text.split()) <= MAX_LABEL_WORDS and text[0] not in "{[")


class LabelTally:
    """Streaming label counter: gives up (``counts`` is None) as soon as an output is not
    label-shaped or there are too many distinct values to be classes."""

    def __init__(self) -> None:
        self._counts: Counter[str] | None = Counter()
        self._lines: dict[str, list[int]] = {}
        self.total = 0

    def add(self, output: str, line: int) -> None:
        self.total += 1
        if self._counts is None:
            return
        label = output.strip()
        if not looks_like_label(label):
            self._counts = None
            self._lines = {}
            return
        self._counts[label] += 1
        self._lines.setdefault(label, []).append(line)
        if len(self._counts) > MAX_DISTINCT_LABELS:
            self._counts = None
            self._lines = {}

    @property
    def counts(self) -> dict[str, int] | None:
        """Label counts, most common first, when the outputs are labels; else None.

        Labels must repeat: on average at least twice each, and at least one of them more
        than once (otherwise these are short free-form answers, not classes)."""
        counts = self._counts
        if not counts or self.total < 4 or len(counts) * 2 > self.total:
            return None
        return dict(counts.most_common())

    def lines_of(self, label: str) -> list[int]:
        return list(self._lines.get(label, []))


def label_counts(outputs: Iterable[str]) -> dict[str, int] | None:
    tally = LabelTally()
    for i, output in enumerate(outputs):
        tally.add(output, i)
    return tally.counts

"""Progress of the answering phases: a running count of answers, reported as each one
finishes, and the tokens generated, turned into tokens/s (the task's held-out answers and
the general-ability probes report alike)."""

from __future__ import annotations

import time
from typing import Callable

# progress(done, total, phase[, tokens_per_s]): the answering phases add their speed.
ProgressFn = Callable[..., None]


class AnswerCounter:
    """``generate_greedy``'s callbacks for one phase: a running count of answers (reported
    as each finishes) and the tokens generated, turned into tokens/s."""

    def __init__(self, progress: ProgressFn, total: int, phase: str, start: int = 0) -> None:
        self.progress, self.total, self.phase = progress, total, phase
        self.done, self.tokens, self.began = start, 0, time.perf_counter()
        self._said_at = 0.0
        progress(self.done, total, phase)

    @property
    def tokens_per_s(self) -> float | None:
        spent = time.perf_counter() - self.began
        return self.tokens / spent if self.tokens and spent > 0 else None

    def answered(self, k: int) -> None:
        self.done += k
        self.progress(self.done, self.total, self.phase, tokens_per_s=self.tokens_per_s)

    def generated(self, k: int) -> None:
        self.tokens += k
        now = time.perf_counter()
        if now - self._said_at >= 1.0:     # the speed moves on between answers, once a second
            self._said_at = now
            self.progress(self.done, self.total, self.phase, tokens_per_s=self.tokens_per_s)

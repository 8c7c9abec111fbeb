"""Throughput, ETA and elapsed time from step timestamps (pure logic, no torch).

tokens/s is measured between two logs, so it reflects the current speed rather than an
average that includes start-up. The ETA uses the mean duration of the last ``window``
steps. Elapsed time continues across a resume (the caller passes what was already spent).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Reading:
    tokens_per_s: float | None
    eta_s: float | None
    elapsed_s: float


class StepMeter:
    def __init__(self, total_steps: int, *, start_tokens: int = 0, elapsed_before: float = 0.0,
                 window: int = 20, clock=time.perf_counter):
        self.total_steps = total_steps
        self._clock = clock
        self._elapsed_before = elapsed_before
        self._started = clock()
        self._step_ends: deque[float] = deque([self._started], maxlen=window + 1)
        self._last_log: tuple[float, int] = (self._started, start_tokens)

    def elapsed(self) -> float:
        """Training time so far, earlier sessions of a resumed run included."""
        return self._elapsed_before + self._clock() - self._started

    def step_done(self) -> None:
        self._step_ends.append(self._clock())

    def read(self, step: int, tokens_seen: int | None) -> Reading:
        now = self._clock()
        tokens_per_s = None
        if tokens_seen is not None:
            last_time, last_tokens = self._last_log
            if now > last_time and tokens_seen >= last_tokens:
                tokens_per_s = (tokens_seen - last_tokens) / (now - last_time)
            self._last_log = (now, tokens_seen)
        eta = None
        ends = self._step_ends
        if len(ends) >= 2 and self.total_steps > 0:
            per_step = (ends[-1] - ends[0]) / (len(ends) - 1)
            eta = max(self.total_steps - step, 0) * per_step
        return Reading(tokens_per_s, eta, self._elapsed_before + now - self._started)

"""95 % intervals for evaluation results: a binomial rate, and the paired change between
the base and the tuned model on the same held-out items (bootstrap, resampling items with
both their scores, so the pairing is kept)."""

from __future__ import annotations

import math
import random
from typing import Callable, Sequence

BOOTSTRAP_SAMPLES = 2000
Z95 = 1.959964


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def percentiles(values: list[float]) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles."""
    values = sorted(values)
    lo = values[int(0.025 * (len(values) - 1))]
    hi = values[int(math.ceil(0.975 * (len(values) - 1)))]
    return lo, hi


def bootstrap_interval(statistic: Callable[[list[int]], float], n: int, seed: int = 0,
                       samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float]:
    """95 % interval of ``statistic(indices)`` over resamples of ``n`` items with replacement
    (for a corpus-level score such as macro-F1, which is not a mean of per-item scores)."""
    rng = random.Random(seed)
    return percentiles([statistic([rng.randrange(n) for _ in range(n)]) for _ in range(samples)])


def paired_bootstrap_delta(base: Sequence[float], tuned: Sequence[float], seed: int = 0,
                           samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float]:
    """95 % interval of mean(tuned) - mean(base), resampling items with both scores."""
    diffs = [t - b for b, t in zip(base, tuned)]
    return bootstrap_interval(lambda idx: sum(diffs[i] for i in idx) / len(idx), len(diffs),
                              seed, samples)

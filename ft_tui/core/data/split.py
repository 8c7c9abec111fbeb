"""Reproducible train/eval split, stratified by label when the outputs are labels."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Sequence, TypeVar

from ft_tui.core.data.labels import label_counts

T = TypeVar("T")


def eval_size(n: int, eval_fraction: float) -> int:
    """How many of ``n`` examples to hold out: at least one (if any fraction is asked and
    there are two examples), never all of them."""
    if eval_fraction <= 0 or n < 2:
        return 0
    return min(n - 1, max(1, round(n * eval_fraction)))


def split_examples(examples: Sequence[T], eval_fraction: float, seed: int = 42) -> tuple[list[T], list[T]]:
    """``(train, eval)``, each in file order. The same inputs, fraction and seed always give
    the same split. When the outputs look like labels, every label keeps its share in both
    parts (a label seen once stays in train)."""
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    examples = list(examples)
    want = eval_size(len(examples), eval_fraction)
    if want == 0:
        return examples, []
    rng = random.Random(seed)
    outputs = [ex.output_text() for ex in examples]  # type: ignore[attr-defined]
    if label_counts(outputs) is not None:
        chosen = _stratified(outputs, want, rng)
    else:
        order = list(range(len(examples)))
        rng.shuffle(order)
        chosen = set(order[:want])
    train = [ex for i, ex in enumerate(examples) if i not in chosen]
    held_out = [ex for i, ex in enumerate(examples) if i in chosen]
    return train, held_out


def _stratified(outputs: list[str], want: int, rng: random.Random) -> set[int]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, out in enumerate(outputs):
        groups[out.strip()].append(i)
    n = len(outputs)
    # Largest-remainder allocation of `want` slots over labels, proportional to their size;
    # a label needs two examples before one can be held out.
    labels = sorted(groups)
    exact = {lab: want * len(groups[lab]) / n for lab in labels}
    quota = {lab: min(int(exact[lab]), len(groups[lab]) - 1) for lab in labels}
    spare = want - sum(quota.values())
    by_remainder = sorted(labels, key=lambda lab: (-(exact[lab] - quota[lab]), lab))
    while spare > 0:
        progressed = False
        for lab in by_remainder:
            if spare and quota[lab] < len(groups[lab]) - 1:
                quota[lab] += 1
                spare -= 1
                progressed = True
        if not progressed:
            break
    chosen: set[int] = set()
    for lab in labels:
        members = groups[lab][:]
        rng.shuffle(members)
        chosen.update(members[:quota[lab]])
    return chosen

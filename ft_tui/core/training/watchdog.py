"""Spots the training curves a person should be told about, as they happen.

Pure logic over the numbers the trainer logs (no torch), so it is cheap to call on every
log and easy to test:

- **nan_loss**: the loss became NaN or infinite. The run cannot recover; the caller stops
  it as failed.
- **overfitting**: the held-out loss rose at ``k`` evaluations in a row while the training
  loss kept falling: the model is memorising the training set.
- **no_progress**: after a few windows of steps the training loss is no lower than where
  it started: the learning rate is too low, or the data gives nothing to learn.

Each warning is raised once per episode, so a long plateau is not reported every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Alert:
    code: str       # nan_loss | overfitting | no_progress
    step: int
    message: str


class LossWatchdog:
    def __init__(self, *, overfit_evals: int = 2, window: int = 10, min_drop: float = 0.01):
        self.overfit_evals = overfit_evals
        self.window = window          # logged losses averaged on each side of the comparison
        self.min_drop = min_drop      # relative drop that counts as progress
        self.train_losses: list[tuple[int, float]] = []
        self.eval_losses: list[tuple[int, float]] = []
        self._overfit_reported = False
        self._no_progress_reported = False

    # ----- training loss ---------------------------------------------------------------
    def on_train_loss(self, step: int, loss: float) -> Alert | None:
        if not math.isfinite(loss):
            kind = "NaN" if math.isnan(loss) else "infinite"
            return Alert("nan_loss", step,
                         f"the training loss became {kind} at step {step}: training diverged. "
                         "Lower the learning rate (e.g. halve it), or use fp32/bf16 instead "
                         "of fp16.")
        self.train_losses.append((step, loss))
        return self._check_progress(step)

    def _check_progress(self, step: int) -> Alert | None:
        w = self.window
        if self._no_progress_reported or len(self.train_losses) < 3 * w:
            return None
        start = _mean(loss for _, loss in self.train_losses[:w])
        recent = _mean(loss for _, loss in self.train_losses[-w:])
        if recent > start * (1 - self.min_drop):
            self._no_progress_reported = True
            return Alert("no_progress", step,
                         f"the training loss is not going down ({start:.3f} over the first {w} "
                         f"logs, {recent:.3f} over the last {w}): try a higher learning rate, "
                         "check that the answers in the data are consistent, or stop here.")
        return None

    # ----- held-out loss ---------------------------------------------------------------
    def on_eval_loss(self, step: int, eval_loss: float) -> Alert | None:
        if not math.isfinite(eval_loss):
            return None  # the training loss check reports divergence
        self.eval_losses.append((step, eval_loss))
        k = self.overfit_evals
        recent = self.eval_losses[-(k + 1):]
        rising = len(recent) == k + 1 and all(b[1] > a[1] for a, b in zip(recent, recent[1:]))
        if not rising:
            self._overfit_reported = False  # episode over: report the next one again
            return None
        if self._overfit_reported or not self._train_falling_since(recent[0][0]):
            return None
        self._overfit_reported = True
        first, last = recent[0][1], recent[-1][1]
        return Alert("overfitting", step,
                     f"the held-out loss rose at {k} evaluations in a row ({first:.3f} -> "
                     f"{last:.3f}) while the training loss kept falling: the model is "
                     "memorising the training set. Stop now and use the best checkpoint, train "
                     "fewer epochs, add data, or turn on early stopping.")

    def _train_falling_since(self, step: int) -> bool:
        before = [loss for s, loss in self.train_losses if s <= step][-self.window:]
        after = [loss for s, loss in self.train_losses if s > step][-self.window:]
        if not before or not after:
            return False
        return _mean(after) < _mean(before)


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)

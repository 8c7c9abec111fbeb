"""Warnings for DPO/KTO's own curves, over the ``rewards/*`` numbers TRL logs.

- **accuracy_at_chance**: after several windows of logs the share of pairs whose chosen
  answer gets the higher reward is still about one half: the model is not learning the
  preference (learning rate too low, beta too high, or the pairs disagree with each other).
- **margin_collapsed**: the reward margin (chosen minus rejected) had grown and has fallen
  back to a fraction of its best: training is undoing what it learned (too high a learning
  rate, or noisy pairs).

Pure logic, no torch; each warning is raised once.
"""

from __future__ import annotations

import math

from ft_tui.core.training.watchdog import Alert

CHANCE = 0.55          # accuracy at or below this is "about one half" for a window of logs
COLLAPSE_SHARE = 0.25  # margin back under this share of its best window


class PreferenceWatchdog:
    def __init__(self, *, window: int = 5, min_margin: float = 0.05):
        self.window = window
        self.min_margin = min_margin      # a best window below this never counts as "grown"
        self.margins: list[float] = []
        self.accuracies: list[float] = []
        self._best = -math.inf
        self._reported: set[str] = set()

    def on_log(self, step: int, margin: float | None, accuracy: float | None) -> list[Alert]:
        alerts = []
        if accuracy is not None and math.isfinite(accuracy):
            self.accuracies.append(accuracy)
            alert = self._chance(step)
            if alert:
                alerts.append(alert)
        if margin is not None and math.isfinite(margin):
            self.margins.append(margin)
            alert = self._collapse(step)
            if alert:
                alerts.append(alert)
        return alerts

    def _chance(self, step: int) -> Alert | None:
        w = self.window
        if "accuracy_at_chance" in self._reported or len(self.accuracies) < 3 * w:
            return None
        recent = _mean(self.accuracies[-w:])
        if recent > CHANCE:
            return None
        self._reported.add("accuracy_at_chance")
        return Alert("accuracy_at_chance", step,
                     f"preference accuracy is still at chance ({recent:.0%} of pairs over the last "
                     f"{w} logs prefer the chosen answer): the model is not learning the "
                     "preference. Try a higher learning rate or a lower beta, and check that "
                     "chosen is really the better answer in the data.")

    def _collapse(self, step: int) -> Alert | None:
        w = self.window
        if "margin_collapsed" in self._reported or len(self.margins) < w:
            return None
        recent = _mean(self.margins[-w:])
        best = self._best
        self._best = max(best, recent)
        if best < self.min_margin or recent > best * COLLAPSE_SHARE:
            return None
        self._reported.add("margin_collapsed")
        return Alert("margin_collapsed", step,
                     f"the reward margin collapsed from {best:.3f} to {recent:.3f} (chosen minus "
                     "rejected reward, mean of the last logs): training is undoing what it "
                     "learned. Lower the learning rate, raise beta, or use an earlier checkpoint.")


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)

"""The bar a fine-tune has to clear: the best prompted baseline that was measured.

The evaluation scores the base model prompted as ``eval.few_shot`` says (zero-shot by
default); the Decide step may have measured it with worked examples too, and found that
prompting does better. "A fine-tune that does not beat prompting is wasted compute": the
verdict is against the higher of the two, and both numbers are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PromptedBar:
    label: str          # how the base model was prompted: "zero-shot", "3-shot"
    score: float        # its main-metric score
    n_examples: int
    where: str          # "this evaluation" or "measured in Decide"
    finetuned: float
    metric: str

    @property
    def beats(self) -> bool:
        return self.finetuned > self.score

    def text(self) -> str:
        bar = f"the best prompt, {self.score:.2f} ({self.label}, {self.where}, {self.n_examples} examples)"
        if self.beats:
            return (f"Fine-tuned {self.finetuned:.2f} {self.metric} beats {bar}, by "
                    f"{self.finetuned - self.score:+.2f}.")
        return (f"Fine-tuned {self.finetuned:.2f} {self.metric} does not beat {bar}: a fine-tune "
                "that does not beat prompting is wasted compute.")


def prompted_bar(report: dict[str, Any], measured: dict[str, Any] | None,
                 data_path: str | None = None) -> PromptedBar | None:
    """The bar for an eval report (its dict): the evaluation's own base score, or a
    baseline measured before training (BaselineResult.to_dict()) when that one is higher
    and was measured for the same model, data file and metric."""
    main = report.get("main_metric")
    row = (report.get("summary") or {}).get(main) or {}
    if row.get("finetuned") is None or row.get("base") is None:
        return None
    from ft_tui.core.evaluate.metrics import METRIC_LABELS

    settings = report.get("settings") or {}
    shots = int(settings.get("few_shot") or 0)
    candidates = [(f"{shots}-shot" if shots else "zero-shot", float(row["base"]),
                   int(report.get("n_examples") or 0), "this evaluation")]
    if measured and _same_setup(measured, main, settings.get("model"), data_path):
        for name, scores in (measured.get("scores") or {}).items():
            if main in scores:
                label = f"{measured.get('few_shot', 0)}-shot" if name == "few_shot" else "zero-shot"
                candidates.append((label, float(scores[main]), int(measured.get("n_examples") or 0),
                                   "measured in Decide"))
    label, score, n, where = max(candidates, key=lambda c: c[1])
    return PromptedBar(label, score, n, where, float(row["finetuned"]),
                       METRIC_LABELS.get(main, main))


def _same_setup(measured: dict[str, Any], metric: str | None, model: str | None,
                data_path: str | None) -> bool:
    if measured.get("main_metric") != metric:
        return False
    if model is not None and measured.get("model") not in (None, model):
        return False
    if data_path is not None and measured.get("data_path"):
        return _resolved(measured["data_path"]) == _resolved(data_path)
    return True


def _resolved(path: str) -> str:
    from ft_tui.core.paths import resolve_data_path

    found = resolve_data_path(path)
    return str(Path(found).resolve()) if found else path

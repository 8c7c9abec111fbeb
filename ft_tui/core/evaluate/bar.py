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
    where: str          # "this evaluation", "measured in Decide" or the file it came from
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

    def to_dict(self) -> dict[str, Any]:
        """For `ft-tui eval --json`."""
        return {"label": self.label, "score": self.score, "n_examples": self.n_examples,
                "where": self.where, "finetuned": self.finetuned, "metric": self.metric,
                "beats": self.beats}


def shipping_call(verdict: dict[str, Any], bar: PromptedBar | None) -> tuple[bool, str]:
    """(ship?, the reason in one sentence): the evaluation's own call (task score and
    general abilities), overruled when a higher prompted baseline was measured and the
    fine-tune does not beat it. The CLI, its --gate and the wizard all ask this."""
    ship = bool(verdict.get("ship", verdict.get("finetuned_beats_base", False)))
    reason = verdict.get("ship_reason") or (   # reports written before the general check
        "Ship: it beats the prompted base model." if ship else
        "Don't ship: the fine-tuned model does not beat the prompted base model.")
    if ship and bar is not None and bar.where != "this evaluation" and not bar.beats:
        return False, (f"Don't ship: fine-tuned {bar.finetuned:.2f} does not beat the best prompt "
                       f"measured, {bar.score:.2f} {bar.metric} ({bar.label}, {bar.where}).")
    return ship, reason


def verdict_without_ship(verdict: dict[str, Any]) -> str:
    """The verdict's comparison with this evaluation's base, without its ship sentence
    (which shipping_call may overrule)."""
    text, reason = verdict.get("text", ""), verdict.get("ship_reason") or ""
    return text.removesuffix("\n" + reason) if reason else text


def prompted_bar(report: dict[str, Any], measured: dict[str, Any] | None,
                 data_path: str | None = None, *,
                 measured_where: str = "measured in Decide") -> PromptedBar | None:
    """The bar for an eval report (its dict): the evaluation's own base score, or a
    baseline measured before training (BaselineResult.to_dict()) when that one is higher
    and was measured for the same model, data file and metric. ``measured_where`` names
    where that baseline came from, for the bar's text."""
    main = report.get("main_metric")
    row = (report.get("summary") or {}).get(main) or {}
    if row.get("finetuned") is None or row.get("base") is None:
        return None
    from ft_tui.core.evaluate.metrics import METRIC_LABELS

    settings = report.get("settings") or {}
    shots = int(settings.get("few_shot") or 0)
    candidates = [(f"{shots}-shot" if shots else "zero-shot", float(row["base"]),
                   int(report.get("n_examples") or 0), "this evaluation")]
    if measured and comparable(measured, report, data_path):
        for name, scores in (measured.get("scores") or {}).items():
            if main in scores:
                label = f"{measured.get('few_shot', 0)}-shot" if name == "few_shot" else "zero-shot"
                candidates.append((label, float(scores[main]), int(measured.get("n_examples") or 0),
                                   measured_where))
    label, score, n, where = max(candidates, key=lambda c: c[1])
    return PromptedBar(label, score, n, where, float(row["finetuned"]),
                       METRIC_LABELS.get(main, main))


def comparable(measured: dict[str, Any], report: dict[str, Any], data_path: str | None = None) -> bool:
    """Was ``measured`` scored for the report's model, data file and main metric?"""
    metric, model = report.get("main_metric"), (report.get("settings") or {}).get("model")
    if measured.get("main_metric") != metric:
        return False
    if model is not None and measured.get("model") not in (None, model):
        return False
    if data_path is not None and measured.get("data_path"):
        return _resolved(measured["data_path"]) == _resolved(data_path)
    return True


def checked_baseline(data: Any, where: str) -> dict[str, Any]:
    """``data`` when it is a measured baseline (the object `ft-tui baseline --json` prints),
    else ValueError saying what is wrong with it."""
    if not isinstance(data, dict) or not isinstance(data.get("main_metric"), str):
        raise ValueError(f"{where}: not a baseline (expected the object `ft-tui baseline "
                         "--json` prints, with main_metric and scores)")
    scores = data.get("scores")
    if not isinstance(scores, dict) or not all(
            isinstance(row, dict) and all(isinstance(v, (int, float)) for v in row.values())
            for row in scores.values()):
        raise ValueError(f"{where}: 'scores' must map each prompt (zero_shot, few_shot) to "
                         "{metric: number}")
    return data


def read_baseline_file(path: str | Path) -> dict[str, Any]:
    """A baseline saved from `ft-tui baseline --json`; ValueError with the reason otherwise."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from exc
    return checked_baseline(data, str(path))


def _resolved(path: str) -> str:
    from ft_tui.core.paths import resolve_data_path

    found = resolve_data_path(path)
    return str(Path(found).resolve()) if found else path

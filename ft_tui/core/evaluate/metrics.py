"""Scoring generated answers against references: pure functions, no model needed.

The task kind is read from the references themselves:

- ``extraction``: the references are JSON objects. Main metric: per-field match.
- ``labels``: short references with few distinct values (classification). Main metric:
  macro-F1 over the reference labels.
- ``free_text``: anything else. Main metric: ROUGE-L F1.

Every per-example score is in 0..1 except ``answer_length`` (words), which is reported
for information and never counts as better or worse.
"""

from __future__ import annotations

import json
import re
import string
from typing import Any, Sequence

TASK_KINDS = ("extraction", "labels", "free_text")
MAIN_METRIC = {"extraction": "json_field_match", "labels": "macro_f1", "free_text": "rouge_l"}

METRIC_LABELS = {
    "preference_accuracy": "preference accuracy",   # DPO/KTO runs: core/evaluate/preference.py
    "mean_margin": "mean log-prob margin",
    "exact_match": "exact match",
    "normalized_match": "normalised match",
    "json_valid": "valid JSON",
    "json_field_match": "JSON field match",
    "json_object_match": "JSON object match",
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "rouge_l": "ROUGE-L F1",
    "answer_length": "answer length (words)",
    "judge_score": "LLM judge (0-1)",
}
# Metrics where a higher value is not "better": shown with their delta, never judged.
NEUTRAL_METRICS = frozenset({"answer_length"})

_PUNCT_TABLE = str.maketrans({c: " " for c in string.punctuation})
_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```$", re.DOTALL)


# ----- text normalisation --------------------------------------------------------------

def normalize_text(text: str) -> str:
    """Lower case, punctuation to spaces, runs of whitespace to one space."""
    return " ".join(str(text).lower().translate(_PUNCT_TABLE).split())


def words(text: str) -> list[str]:
    return normalize_text(text).split()


# ----- per-example metrics --------------------------------------------------------------

def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the answer equals the reference, ignoring only leading/trailing whitespace."""
    return float(prediction.strip() == reference.strip())


def normalized_match(prediction: str, reference: str) -> float:
    """1.0 when the answers match after ignoring case, whitespace and punctuation."""
    return float(normalize_text(prediction) == normalize_text(reference))


def parse_json_object(text: str) -> dict | None:
    """The JSON object in ``text`` (a surrounding markdown code fence is allowed), else None."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        value = json.loads(stripped)
    except (json.JSONDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def json_valid(prediction: str) -> float:
    """1.0 when the answer is a JSON object."""
    return float(parse_json_object(prediction) is not None)


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return normalize_text(a) == normalize_text(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def json_field_match(prediction: str, reference: str) -> float:
    """Share of the reference object's fields that the answer reproduces (string values
    compared like ``normalized_match``). 0.0 when the answer is not a JSON object."""
    ref = parse_json_object(reference)
    pred = parse_json_object(prediction)
    if ref is None or pred is None:
        return 0.0
    if not ref:
        return float(not pred)
    hits = sum(1 for key, value in ref.items() if key in pred and _same_value(pred[key], value))
    return hits / len(ref)


def json_object_match(prediction: str, reference: str) -> float:
    """1.0 when the answer parses to the same object as the reference (key order and
    formatting ignored, values exact)."""
    ref = parse_json_object(reference)
    pred = parse_json_object(prediction)
    return float(ref is not None and pred is not None and pred == ref)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, O(len(a)*len(b)) time,
    O(min) memory)."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            current[j] = previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1])
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over normalised words: 2PR/(P+R) with P = LCS/len(pred), R = LCS/len(ref)."""
    pred, ref = words(prediction), words(reference)
    if not pred or not ref:
        return float(pred == ref)
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def answer_length(prediction: str) -> float:
    return float(len(prediction.split()))


# ----- corpus-level metrics ------------------------------------------------------------

def accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of normalised answers equal to their normalised label."""
    if not references:
        return 0.0
    return sum(normalized_match(p, r) for p, r in zip(predictions, references)) / len(references)


def macro_f1(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Mean F1 over the labels that occur in the references.

    Answers outside the label set count as misses for the true label; they do not add
    classes of their own, so a chatty model is not scored on dozens of invented labels.
    """
    refs = [normalize_text(r) for r in references]
    preds = [normalize_text(p) for p in predictions]
    labels = sorted(set(refs))
    if not labels:
        return 0.0
    scores = []
    for label in labels:
        tp = sum(1 for p, r in zip(preds, refs) if p == label and r == label)
        fp = sum(1 for p, r in zip(preds, refs) if p == label and r != label)
        fn = sum(1 for p, r in zip(preds, refs) if p != label and r == label)
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)


# ----- task kind and scoring -----------------------------------------------------------

def detect_task_kind(references: Sequence[str]) -> str:
    """extraction, labels or free_text, judged from the reference answers. Labels are what
    the data engine calls labels (short, repeating answers), so the evaluation agrees with
    the stratified split and ``ft-tui inspect``."""
    from ft_tui.core.data.labels import label_counts

    refs = [r.strip() for r in references if r.strip()]
    if not refs:
        return "free_text"
    if sum(parse_json_object(r) is not None for r in refs) >= 0.8 * len(refs):
        return "extraction"
    if label_counts(refs) is not None:
        return "labels"
    return "free_text"


def metric_names(kind: str) -> list[str]:
    """Metrics reported for a task kind, main metric first."""
    common = ["exact_match", "normalized_match"]
    extra = {
        "extraction": ["json_valid", "json_object_match"],
        "labels": ["accuracy"],
        "free_text": [],
    }[kind]
    return [MAIN_METRIC[kind], *extra, *common, "answer_length"]


def score_example(kind: str, prediction: str, reference: str) -> dict[str, float]:
    """Per-example scores (macro-F1 and accuracy are corpus-level, so labels get
    ``normalized_match`` here, which is what accuracy averages)."""
    scores = {
        "exact_match": exact_match(prediction, reference),
        "normalized_match": normalized_match(prediction, reference),
        "answer_length": answer_length(prediction),
    }
    if kind == "extraction":
        scores["json_valid"] = json_valid(prediction)
        scores["json_field_match"] = json_field_match(prediction, reference)
        scores["json_object_match"] = json_object_match(prediction, reference)
    elif kind == "free_text":
        scores["rouge_l"] = rouge_l(prediction, reference)
    return scores


def summarize(kind: str, predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus scores for one model: per-example means plus the corpus-level metrics."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} answers for {len(references)} references")
    per_example = [score_example(kind, p, r) for p, r in zip(predictions, references)]
    out: dict[str, float] = {}
    for name in metric_names(kind):
        if name == "macro_f1":
            out[name] = macro_f1(predictions, references)
        elif name == "accuracy":
            out[name] = accuracy(predictions, references)
        else:
            values = [s[name] for s in per_example]
            out[name] = sum(values) / len(values) if values else 0.0
    return out


def main_change_interval(kind: str, base: Sequence[str], finetuned: Sequence[str],
                         references: Sequence[str],
                         scores: Sequence[dict[str, dict[str, float]]] | None = None
                         ) -> tuple[float, float] | None:
    """95 % interval of the main metric's change (tuned - base) over the held-out examples,
    resampled in pairs; macro-F1 is recomputed on each resample (it is not a mean).
    ``scores``: each example's ``{"base": score_example(...), "finetuned": ...}`` when the
    caller has them already."""
    from ft_tui.core.evaluate.intervals import bootstrap_interval, paired_bootstrap_delta

    n = len(references)
    if n < 2:
        return None
    main = MAIN_METRIC[kind]
    if main == "macro_f1":
        def change(idx: list[int]) -> float:
            refs = [references[i] for i in idx]
            return (macro_f1([finetuned[i] for i in idx], refs)
                    - macro_f1([base[i] for i in idx], refs))
        return bootstrap_interval(change, n, samples=1000)
    if scores is None:
        scores = [{"base": score_example(kind, b, r), "finetuned": score_example(kind, f, r)}
                  for b, f, r in zip(base, finetuned, references)]
    return paired_bootstrap_delta([s["base"][main] for s in scores],
                                  [s["finetuned"][main] for s in scores])

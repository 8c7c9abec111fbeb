"""The verdict (did fine-tuning beat the prompted base model, and if not, why not) and the
evaluation section of ``report.md``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ft_tui.core.atomic import atomic_write_text
from ft_tui.core.evaluate.metrics import METRIC_LABELS, NEUTRAL_METRICS
from ft_tui.core.run.artifacts import RunError

class EvalError(RunError):
    """Evaluation cannot run; the message says what is wrong and what to do."""


@dataclass
class EvalReport:
    task_kind: str
    main_metric: str
    n_examples: int
    summary: dict[str, dict[str, float | None]]
    verdict: dict[str, Any]
    examples: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    general: dict[str, Any] | None = None   # the general-ability check (general.py)

    @property
    def finetuned_beats_base(self) -> bool:
        return bool(self.verdict["finetuned_beats_base"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_kind": self.task_kind,
            "main_metric": self.main_metric,
            "n_examples": self.n_examples,
            "summary": self.summary,
            "verdict": self.verdict,
            "examples": self.examples,
            "settings": self.settings,
            "general": self.general,
        }


SECTION_START = "<!-- ft-tui:eval:start -->"
SECTION_END = "<!-- ft-tui:eval:end -->"

# Below these, a result is fragile or a run is short (ft-tui's thresholds: with fewer than
# 20 held-out examples one answer moves the score by 5 points or more).
FEW_EVAL_EXAMPLES = 20
FEW_STEPS = 50
# Our task kinds in the data engine's data-size table (core/data/checks.py TASK_TYPES).
DATA_TABLE_TYPE = {"labels": "classification", "extraction": "extraction", "free_text": "style"}
HIGH_BASELINE = 0.9


@dataclass
class TrainingFacts:
    """What the run's metrics.jsonl says about training, for the verdict's advice."""

    steps: int | None = None
    first_loss: float | None = None
    last_loss: float | None = None
    overfitting_warned: bool = False


def training_facts(run_dir) -> TrainingFacts:
    facts = TrainingFacts()
    losses: list[float] = []
    for row in run_dir.iter_metric_dicts():
        kind = row.get("type")
        if kind == "log" and isinstance(row.get("loss"), (int, float)) and math.isfinite(row["loss"]):
            losses.append(float(row["loss"]))
            facts.steps = int(row.get("step") or 0)
        elif kind == "warning" and row.get("code") == "overfitting":
            facts.overfitting_warned = True
    if losses:
        # Average a few logs at each end: single-step losses are noisy.
        k = max(1, min(5, len(losses) // 4))
        facts.first_loss = sum(losses[:k]) / k
        facts.last_loss = sum(losses[-k:]) / k
    status_step = run_dir.read_status().get("step")
    if isinstance(status_step, int) and status_step > (facts.steps or 0):
        facts.steps = status_step
    return facts


# Typical learning rates per method, (low, high): adapters 1e-4..5e-4 (QLoRA, arXiv:2305.14314,
# used 1e-4..2e-4), full fine-tuning 1e-5..5e-5 (Stanford Alpaca's full fine-tune used 2e-5).
TYPICAL_LR = {"lora": (1e-4, 5e-4), "qlora": (1e-4, 5e-4), "full": (1e-5, 5e-5)}


def _reasons(kind: str, base: float, facts: TrainingFacts, cfg, n_train: int) -> list[str]:
    reasons: list[str] = []
    if base >= HIGH_BASELINE:
        reasons.append(f"the prompted base model already scores {base:.2f}: prompting (or a few "
                       "examples in the prompt) may be all this task needs")
    if facts.steps is not None and facts.steps < FEW_STEPS:
        reasons.append(f"only {facts.steps} optimizer steps were run: train longer (more epochs "
                       "or a higher --max-steps)")
    lr = cfg.training.learning_rate
    low, high = TYPICAL_LR.get(cfg.method, (1e-5, 5e-4))
    method = "LoRA" if cfg.method in ("lora", "qlora") else "full fine-tuning"
    if lr < low:
        reasons.append(f"learning rate {lr:g} is low for {method} ({low:g} to {high:g} is typical)")
    elif lr > high:
        reasons.append(f"learning rate {lr:g} is high for {method} ({low:g} to {high:g} is "
                       "typical) and risks instability or forgetting")
    if facts.first_loss is not None and facts.last_loss is not None:
        change = f"({facts.first_loss:.2f} -> {facts.last_loss:.2f})"
        if facts.last_loss > facts.first_loss:
            reasons.append(f"the training loss rose {change}: lower the learning rate")
        elif facts.last_loss > 0.9 * facts.first_loss:
            # Raising an already high learning rate is not the cure.
            cure = "train longer" if lr >= low else "raise the learning rate or train longer"
            reasons.append(f"the training loss barely fell {change}: {cure}")
    if facts.overfitting_warned:
        reasons.append("the trainer warned about overfitting: fewer epochs, more dropout or more data")
    from ft_tui.core.data.checks import TASK_TYPES

    name, minimum, good = TASK_TYPES[DATA_TABLE_TYPE.get(kind, "style")]
    if n_train < minimum:
        reasons.append(f"only {n_train} training examples: {name} needs at least {minimum}, "
                       f"and about {good} clean, consistent ones work well")
    if not reasons:
        reasons.append("check the data: inconsistent formats or wrong answers in the training "
                       "set hold a fine-tune back, and more clean examples usually help")
    return reasons


def compare_verdict(*, who: str, against: str, on: str, scores: str, delta: float,
                    interval: tuple[float, float] | None, reasons: Callable[[], list[str]],
                    n: int, few: int, unit: str) -> dict[str, Any]:
    """The verdict of every evaluation (SFT and DPO/KTO): ``who`` beats ``against`` only when
    the gain is clear: with ``interval`` (95 % of the paired change), its low end must be
    above 0. ``reasons()`` is asked only when it did not."""
    higher = delta > 1e-9
    beats = higher and (interval is None or interval[0] > 0)
    if interval is not None:
        scores += f"; 95 % interval of the change {interval[0]:+.3f} to {interval[1]:+.3f}"
    if beats:
        text = f"{who} beat {against} on {on}: {scores}."
    else:
        why = "; ".join(reasons())
        if higher:
            text = (f"{who} scored higher than {against} on {on}, but not clearly: {scores}, "
                    f"which includes no gain. Likely reasons: {why}.")
        else:
            word = "matched" if abs(delta) <= 1e-9 else "did worse than"
            text = f"{who} did not beat {against}: it {word} it on {on}, {scores}. Likely reasons: {why}."
    if n < few:
        text += (f" With only {n} held-out {unit} the difference is uncertain; hold out 20-50 "
                 f"{unit} to be sure.")
    return {"finetuned_beats_base": beats, "text": text,
            "change_ci95": list(interval) if interval is not None else None}


def make_verdict(*, kind: str, main_metric: str, base: float, finetuned: float, n_examples: int,
                 n_train: int, cfg, facts: TrainingFacts,
                 interval: tuple[float, float] | None = None) -> dict[str, Any]:
    """Did fine-tuning beat the prompted base model on the main metric (clearly, given
    ``interval``), and if not, why not."""
    return compare_verdict(
        who="Fine-tuning", against="the prompted base model",
        on=METRIC_LABELS.get(main_metric, main_metric),
        scores=f"{finetuned:.3f} vs {base:.3f} ({finetuned - base:+.3f}) on {n_examples} held-out examples",
        delta=finetuned - base, interval=interval,
        reasons=lambda: _reasons(kind, base, facts, cfg, n_train),
        n=n_examples, few=FEW_EVAL_EXAMPLES, unit="examples")


# ----- report.md -----------------------------------------------------------------------

def _one_line(text: str, limit: int = 240) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def render_section(report: dict[str, Any], n_shown: int = 5) -> str:
    """The markdown evaluation section for an ``eval.json`` dict."""
    s = report["settings"]
    shots = f"{s['few_shot']}-shot" if s.get("few_shot") else "zero-shot"
    lines = [
        SECTION_START,
        "## Evaluation: prompted base model vs fine-tuned",
        "",
        f"Task kind: {report['task_kind']} · main metric: "
        f"{METRIC_LABELS.get(report['main_metric'], report['main_metric'])} · "
        f"{report['n_examples']} held-out examples · base model prompted {shots} · "
        f"greedy, up to {s['max_new_tokens']} new tokens",
        "",
        "| metric | base | fine-tuned | delta |",
        "|---|---:|---:|---:|",
    ]
    for name, row in report["summary"].items():
        label = METRIC_LABELS.get(name, name)
        if name == report["main_metric"]:
            label = f"**{label}**"
        elif name in NEUTRAL_METRICS:
            label += " (info)"
        delta = "–" if row.get("delta") is None else f"{row['delta']:+.3f}"
        lines.append(f"| {label} | {_cell(row.get('base'))} | {_cell(row.get('finetuned'))} | {delta} |")
    lines += ["", f"**Verdict:** {report['verdict']['text']}", ""]
    if s.get("judge_error"):
        lines += [f"LLM judge skipped: {s['judge_error']}", ""]
    # Show disagreements first: they say most about what fine-tuning changed.
    examples = sorted(report["examples"], key=lambda e: e["base"].strip() == e["finetuned"].strip())
    if examples:
        lines += [f"### Examples ({min(n_shown, len(examples))} of {len(examples)}; all in eval.json)", ""]
    for ex in examples[:n_shown]:
        lines += [
            f"**Line {ex['line']}:** {_one_line(ex['prompt'])}",
            "",
            f"- reference: {_one_line(ex['reference'])}",
            f"- base: {_one_line(ex['base'])}",
            f"- fine-tuned: {_one_line(ex['finetuned'])}",
            "",
        ]
    lines.append(SECTION_END)
    return "\n".join(lines) + "\n"


def update_report(path: Path, section: str, title: str) -> Path:
    """Write ``section`` into report.md: replace an earlier eval section, keep the rest."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = f"# Run report: {title}\n\n"
    start, end = text.find(SECTION_START), text.find(SECTION_END)
    if start != -1 and end > start:
        text = text[:start] + section.rstrip("\n") + text[end + len(SECTION_END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    return atomic_write_text(path, text)

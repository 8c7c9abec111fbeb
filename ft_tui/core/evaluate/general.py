"""The regression gate: did the fine-tune get worse at everything else?

Two checks, each run on the base and on the fine-tuned model:

- **Probes**: 40 short general instructions bundled in ``probes/*.jsonl`` (arithmetic,
  short facts, following a format, saying so when a question is nonsense), each with a
  checkable answer. Greedy, through the chat template with no system prompt. Reported as
  pass rates with Wilson 95 % intervals, and the paired change with a bootstrap 95 %
  interval (resampling probes, both models together).
- **Perplexity** on ``probes/general_text.txt``, a short plain English text about
  everyday things: how surprised each model is by ordinary prose. Reported as the ratio
  fine-tuned / base with a bootstrap 95 % interval (resampling blocks of tokens).

Forgetting is flagged only when the fine-tune is *clearly* worse: the whole interval of
the probe change is below zero, or the whole interval of the perplexity ratio is above
``PPL_FORGETTING``. :func:`ship_decision` combines this with the task verdict into
ship / don't ship with its reason.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ft_tui.core.evaluate.progress import AnswerCounter, ProgressFn
from ft_tui.core.evaluate.intervals import (BOOTSTRAP_SAMPLES, paired_bootstrap_delta, percentiles,
                                            wilson)

PROBE_DIR = Path(__file__).resolve().parent / "probes"
GENERAL_TEXT = PROBE_DIR / "general_text.txt"
PROBE_MAX_NEW_TOKENS = 24
# The fine-tune's perplexity on general text may grow this much before it counts as
# forgetting (a task fine-tune always shifts the distribution a little).
PPL_FORGETTING = 1.25
PPL_BLOCK = 16  # tokens per bootstrap block (neighbouring tokens are not independent)


@dataclass(frozen=True)
class Probe:
    category: str
    prompt: str
    check: dict[str, Any]


def load_probes(folder: Path = PROBE_DIR) -> list[Probe]:
    probes = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                probes.append(Probe(path.stem, row["prompt"], row["check"]))
    return probes


# ----- checking an answer ---------------------------------------------------------------

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _json_value(text: str):
    from ft_tui.core.evaluate.metrics import parse_json_object

    obj = parse_json_object(text)
    if obj is not None:
        return obj
    stripped = text.strip().strip("`").strip()
    if stripped.startswith("json"):
        stripped = stripped[4:].strip()
    try:
        return json.loads(stripped)
    except (json.JSONDecodeError, ValueError):
        return None


def passes(check: dict[str, Any], answer: str) -> bool:
    """Whether ``answer`` passes a probe's check."""
    kind = check["type"]
    text = answer.strip()
    if kind == "number":  # the last number: "2 + 3 = 5" answers 5
        found = _NUMBER.findall(text.replace(",", ""))
        return bool(found) and float(found[-1]) == float(check["value"])
    if kind == "contains_any":
        return any(re.search(rf"(?<!\w){re.escape(v)}(?!\w)", text, re.IGNORECASE)
                   for v in check["values"])
    if kind == "regex":
        flags = 0 if check.get("case") else re.IGNORECASE
        return re.fullmatch(check["pattern"], text, flags) is not None
    if kind == "json":
        value = _json_value(text)
        return isinstance(value, dict) and all(value.get(k) == v for k, v in check["fields"].items())
    if kind == "json_list":
        return _json_value(text) == check["value"]
    raise ValueError(f"unknown probe check {kind!r}")


# ----- statistics -----------------------------------------------------------------------

def bootstrap_ppl_ratio(base_nll: Sequence[float], tuned_nll: Sequence[float], seed: int = 0,
                        samples: int = BOOTSTRAP_SAMPLES, block: int = PPL_BLOCK) -> tuple[float, float]:
    """95 % interval of perplexity(tuned) / perplexity(base) from per-token losses of the
    same tokens, resampling blocks of ``block`` neighbouring tokens."""
    rng = random.Random(seed)
    blocks = [(sum(base_nll[i:i + block]), sum(tuned_nll[i:i + block]), len(base_nll[i:i + block]))
              for i in range(0, len(base_nll), block)]
    ratios = []
    for _ in range(samples):
        b = t = c = 0.0
        for _ in range(len(blocks)):
            bb, tt, cc = blocks[rng.randrange(len(blocks))]
            b, t, c = b + bb, t + tt, c + cc
        ratios.append(math.exp((t - b) / c))
    return percentiles(ratios)


# ----- running the models ---------------------------------------------------------------

def token_losses(model, tokenizer, text: str) -> list[float]:
    """Negative log-likelihood of every token of ``text`` after the first (nats)."""
    import torch

    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    limit = getattr(model.config, "max_position_embeddings", None) or 2048
    ids = ids[:, :limit].to(next(model.parameters()).device)
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0, :-1].float()
    losses = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")
    return [float(x) for x in losses]


def answer_probes(model, tokenizer, probes: Sequence[Probe], cache=None,
                  batch_size: int = 8, counter: AnswerCounter | None = None) -> list[str]:
    """Greedy answers to the probes (from ``cache`` where present; new ones are cached).
    ``counter`` hears of each answer and of the tokens generated."""
    from ft_tui.core.models.generation import generate_greedy, render_prompt

    prompts = [render_prompt(tokenizer, [{"role": "user", "content": p.prompt}]) for p in probes]
    answers = [cache.get(p) if cache is not None else None for p in prompts]
    missing = [i for i, a in enumerate(answers) if a is None]
    def keep(j: int, answer: str) -> None:   # cached as each batch finishes
        answers[missing[j]] = answer
        if cache is not None:
            cache.put(prompts[missing[j]], answer)

    if counter is not None:
        counter.answered(len(probes) - len(missing))
    if missing:
        generate_greedy(model(), tokenizer, [prompts[i] for i in missing],
                        max_new_tokens=PROBE_MAX_NEW_TOKENS, batch_size=batch_size, on_answer=keep,
                        on_batch=counter.answered if counter else None,
                        on_tokens=counter.generated if counter else None)
    return answers  # type: ignore[return-value]


def side_scores(get_model: Callable[[], Any], tokenizer, probes: Sequence[Probe],
                cache=None, batch_size: int = 8, progress: ProgressFn | None = None,
                phase: str = "general_base") -> dict[str, Any]:
    """One model's probe answers, pass marks and per-token losses on the general text.
    ``progress`` moves per probe answered, then once more for the perplexity pass."""
    loaded = []

    def model():
        if not loaded:
            loaded.append(get_model())
        return loaded[0]

    counter = (AnswerCounter(progress, len(probes) + 1, phase) if progress is not None else None)
    answers = answer_probes(model, tokenizer, probes, cache, batch_size, counter)
    losses = token_losses(model(), tokenizer, GENERAL_TEXT.read_text(encoding="utf-8"))
    if counter is not None:
        counter.answered(1)
    return {"answers": answers, "passed": [passes(p.check, a) for p, a in zip(probes, answers)],
            "losses": losses}


def compare(probes: Sequence[Probe], base: dict[str, Any], tuned: dict[str, Any]) -> dict[str, Any]:
    """The general-ability section of eval.json from both models' side scores."""
    n = len(probes)
    b_pass = [float(x) for x in base["passed"]]
    t_pass = [float(x) for x in tuned["passed"]]
    b_rate, t_rate = sum(b_pass) / n, sum(t_pass) / n
    delta_lo, delta_hi = paired_bootstrap_delta(b_pass, t_pass)
    b_ppl = math.exp(sum(base["losses"]) / len(base["losses"]))
    t_ppl = math.exp(sum(tuned["losses"]) / len(tuned["losses"]))
    r_lo, r_hi = bootstrap_ppl_ratio(base["losses"], tuned["losses"])
    categories = {}
    for cat in sorted({p.category for p in probes}):
        idx = [i for i, p in enumerate(probes) if p.category == cat]
        categories[cat] = {"n": len(idx), "base": sum(b_pass[i] for i in idx) / len(idx),
                           "finetuned": sum(t_pass[i] for i in idx) / len(idx)}
    reasons = []
    if delta_hi < 0:
        reasons.append(f"general probes fell from {b_rate:.2f} to {t_rate:.2f} "
                       f"(change {t_rate - b_rate:+.2f}, 95% CI {delta_lo:+.2f} to {delta_hi:+.2f})")
    if r_lo > PPL_FORGETTING:
        reasons.append(f"perplexity on general text rose from {b_ppl:.1f} to {t_ppl:.1f} "
                       f"(x{t_ppl / b_ppl:.2f}, 95% CI x{r_lo:.2f} to x{r_hi:.2f})")
    return {
        "probes": {"n": n, "base": b_rate, "finetuned": t_rate,
                   "base_ci95": list(wilson(int(sum(b_pass)), n)),
                   "finetuned_ci95": list(wilson(int(sum(t_pass)), n)),
                   "delta": t_rate - b_rate, "delta_ci95": [delta_lo, delta_hi],
                   "by_category": categories},
        "perplexity": {"tokens": len(base["losses"]), "base": b_ppl, "finetuned": t_ppl,
                       "ratio": t_ppl / b_ppl, "ratio_ci95": [r_lo, r_hi],
                       "forgetting_above": PPL_FORGETTING},
        "forgetting": bool(reasons),
        "forgetting_reasons": reasons,
        "examples": [{"category": p.category, "prompt": p.prompt, "base": ba, "finetuned": ta,
                      "base_pass": bp, "finetuned_pass": tp}
                     for p, ba, ta, bp, tp in zip(probes, base["answers"], tuned["answers"],
                                                  base["passed"], tuned["passed"])],
    }


def ship_decision(finetuned_beats_base: bool, general: dict[str, Any] | None) -> tuple[bool, str]:
    """(ship?, the reason in one sentence)."""
    if not finetuned_beats_base:
        return False, ("Don't ship: the fine-tuned model does not beat the prompted base model "
                       "on the task.")
    if general is None:
        return True, "Ship: it beats the prompted base model (general-ability check not run)."
    if general["forgetting"]:
        return False, "Don't ship: it forgot general abilities: " + "; ".join(general["forgetting_reasons"]) + "."
    p, ppl = general["probes"], general["perplexity"]
    return True, (f"Ship: it beats the prompted base model and keeps its general abilities "
                  f"(probes {p['base']:.2f} -> {p['finetuned']:.2f}, perplexity x{ppl['ratio']:.2f}).")


def render_general(general: dict[str, Any], ship: bool, reason: str) -> str:
    """Markdown for report.md."""
    p, ppl = general["probes"], general["perplexity"]
    label = "SHIP" if ship else "DON'T SHIP"
    lines = ["### General ability (regression gate)", "",
             f"**{label}** - {reason}", "",
             "| check | base | fine-tuned | change (95% CI) |", "|---|---|---|---|",
             f"| {p['n']} general probes passed | {p['base']:.2f} | {p['finetuned']:.2f} | "
             f"{p['delta']:+.2f} ({p['delta_ci95'][0]:+.2f} to {p['delta_ci95'][1]:+.2f}) |"]
    for cat, row in p["by_category"].items():
        lines.append(f"| - {cat} ({row['n']}) | {row['base']:.2f} | {row['finetuned']:.2f} | "
                     f"{row['finetuned'] - row['base']:+.2f} |")
    lines.append(f"| perplexity on general text ({ppl['tokens']} tokens) | {ppl['base']:.1f} | "
                 f"{ppl['finetuned']:.1f} | x{ppl['ratio']:.2f} (x{ppl['ratio_ci95'][0]:.2f} to "
                 f"x{ppl['ratio_ci95'][1]:.2f}) |")
    lines += ["", "Forgetting is flagged when the whole interval is worse: probes below 0, or "
              f"perplexity above x{ppl['forgetting_above']:.2f}.", ""]
    return "\n".join(lines)


def add_general_check(report, base_path: Path, trained: Path, tokenizer, load: dict,
                      progress: Callable, run_it: bool = True) -> str:
    """The ship verdict of an evaluation, for every objective. With ``run_it``: probes and
    general-text perplexity for both models first (``report.general``); returns the
    report.md part ('' without the check)."""
    if not run_it:
        ship, reason = ship_decision(report.finetuned_beats_base, None)
        report.verdict.update(ship=ship, ship_reason=reason)
        return ""
    from ft_tui.core.evaluate.answer_cache import base_answer_cache
    from ft_tui.core.models.generation import free_memory
    from ft_tui.core.models.loader import load_base, load_finetuned

    probes = load_probes()
    batch_size = len(probes)  # short prompts and answers: one batch is fastest, also on CPU
    probe_cache = base_answer_cache(base_path, PROBE_MAX_NEW_TOKENS, load["device"], load["dtype"])
    base = side_scores(lambda: load_base(base_path, load), tokenizer, probes, probe_cache,
                       batch_size, progress, "general_base")
    free_memory()
    tuned = side_scores(lambda: load_finetuned(base_path, trained, load), tokenizer, probes,
                        None, batch_size, progress, "general_tuned")
    free_memory()
    report.general = compare(probes, base, tuned)
    ship, reason = ship_decision(report.finetuned_beats_base, report.general)
    report.verdict.update(ship=ship, ship_reason=reason)
    report.verdict["text"] = f"{report.verdict['text']}\n{reason}"
    return "\n" + render_general(report.general, ship, reason)

"""Base vs tuned on held-out preference pairs (DPO / KTO runs).

The score is the one DPO optimises (Rafailov et al. 2023, arXiv:2305.18290, eq. 7): for
each pair, the model's summed log-probability of the chosen answer minus that of the
rejected one, both given the prompt through the chat template. **Preference accuracy** is
the share of pairs with a positive margin. The base model and the tuned model (base +
adapter, or the fully tuned weights) are scored on the same held-out pairs as the run
held out when training, and a few prompts also get greedy answers from both, side by side.
The result goes to ``eval.json`` and the eval section of ``report.md``, in the same form as
SFT's (``task_kind`` "preference", main metric ``preference_accuracy``).

KTO runs are scored on their held-out rows labelled true vs false for the same prompt when
such pairs exist; otherwise on the mean log-probability of good minus bad answers.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ft_tui.core.evaluate.intervals import paired_bootstrap_delta
from ft_tui.core.training.dataset import joined_text, plain, with_system
from ft_tui.core.evaluate.report import compare_verdict

ProgressFn = Callable[[int, int, str], None]
SHOWN_ANSWERS = 5
FEW_PAIRS = 20


def pair_logps(model, tokenizer, prompts: list[list[dict]], answers: list[list[dict]],
               batch_size: int = 8) -> list[float]:
    """Summed log-probability of each answer's tokens after its prompt (chat template)."""
    import torch

    device = next(model.parameters()).device
    out: list[float] = []
    for start in range(0, len(prompts), batch_size):
        ids, masks = [], []
        for prompt, answer in zip(prompts[start:start + batch_size], answers[start:start + batch_size]):
            p_text = tokenizer.apply_chat_template(plain(prompt), tokenize=False,
                                                   add_generation_prompt=True)
            full = tokenizer.apply_chat_template(plain(prompt) + plain(answer), tokenize=False)
            if not full.startswith(p_text):  # a template that rewrites earlier turns
                full = p_text + "".join(m["content"] for m in answer) + (tokenizer.eos_token or "")
            p_ids = tokenizer(p_text, add_special_tokens=False)["input_ids"]
            f_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
            ids.append(f_ids)
            masks.append([0] * len(p_ids) + [1] * (len(f_ids) - len(p_ids)))
        width = max(len(x) for x in ids)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids], device=device)
        attention = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids], device=device)
        answer_mask = torch.tensor([m + [0] * (width - len(m)) for m in masks], device=device)
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=attention).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        token_logp = logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        out += (token_logp * answer_mask[:, 1:]).sum(-1).tolist()
    return out


def score_pairs(model, tokenizer, pairs: list, system_prompt: str,
                on_done: Callable[[int], None] | None = None, batch_size: int = 8) -> list[float]:
    """Log-prob margin chosen - rejected of every pair; ``on_done(n)`` after each batch with
    the pairs scored so far, so progress moves during the pass, not only at its end."""
    margins: list[float] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        prompts = [with_system(ex.prompt_messages(), system_prompt) for ex in chunk]
        chosen = pair_logps(model, tokenizer, prompts, [ex.chosen for ex in chunk], batch_size)
        rejected = pair_logps(model, tokenizer, prompts, [ex.rejected for ex in chunk], batch_size)
        margins += [c - r for c, r in zip(chosen, rejected)]
        if on_done is not None:
            on_done(len(margins))
    return margins


NOT_FOR_PAIRS = ("a {label} run is scored by preference accuracy on held-out pairs (log-"
                 "probabilities of the chosen and the rejected answer), not by generated answers: "
                 "{what} applies to answer-scored (SFT) runs; leave it out")


def evaluate_preference_run(run, cfg, trained, *, max_examples: int | None = None,
                            few_shot: int | None = None, on_progress: ProgressFn | None = None,
                            judge=None, general: bool = False):
    """Preference accuracy of the base and the tuned model on the run's held-out pairs, and
    the general-ability check when asked. ``few_shot`` and a judge, which need answers to
    score, are refused rather than ignored."""
    from ft_tui.core.atomic import atomic_write_json
    from ft_tui.core.evaluate.general import add_general_check
    from ft_tui.core.evaluate.report import EvalError, EvalReport, render_section, update_report
    from ft_tui.core.models.generation import free_memory, generate_greedy, render_prompt
    from ft_tui.core.models.loader import (base_and_tokenizer, inference_settings, load_base,
                                           load_finetuned)
    from ft_tui.core.objectives import load_held_out, objective_of
    from ft_tui.core.run.artifacts import is_peft_adapter

    label = objective_of(cfg).label
    if few_shot:
        raise EvalError(NOT_FOR_PAIRS.format(label=label, what="--few-shot"))
    if judge not in (None, False):
        raise EvalError(NOT_FOR_PAIRS.format(label=label, what="an LLM judge"))
    progress = on_progress or (lambda done, total, phase: None)
    limit = cfg.eval.max_examples if max_examples is None else max_examples
    pairs = load_held_out(cfg)[1]   # SetupError (nothing held out) becomes an EvalError above
    if limit:
        pairs = pairs[:limit]
    if not pairs:
        raise EvalError("no held-out preference pairs to score: KTO needs a true and a false "
                        "answer to one prompt among the held-out rows; set data.eval_path to "
                        "such a file, or raise data.eval_fraction")
    base_path, loaded = base_and_tokenizer(cfg, trained)
    tokenizer, template_fallback = loaded.tokenizer, loaded.fallback
    load = inference_settings(cfg)
    device, dtype = load["device"], load["dtype"]
    system = cfg.data.system_prompt
    shown = pairs[:SHOWN_ANSWERS]
    prompts = [render_prompt(tokenizer, with_system(ex.prompt_messages(), system)) for ex in shown]
    max_new = cfg.eval.max_new_tokens

    def side(model, phase):
        progress(0, len(pairs), phase)
        margins = score_pairs(model, tokenizer, pairs, system,
                              on_done=lambda n: progress(n, len(pairs), phase))
        answers = generate_greedy(model, tokenizer, prompts, max_new_tokens=max_new, batch_size=8)
        progress(len(pairs), len(pairs), phase)
        return margins, answers

    model = load_base(base_path, load)
    base_margins, base_answers = side(model, "base")
    if not is_peft_adapter(trained):
        model = None   # a full fine-tune brings all its own weights: make room first
        free_memory()
    model = load_finetuned(base_path, trained, load, model)   # an adapter merges into the base
    ft_margins, ft_answers = side(model, "finetuned")
    model = None
    free_memory()

    summary = {
        "preference_accuracy": _row(_accuracy(base_margins), _accuracy(ft_margins)),
        "mean_margin": _row(_mean(base_margins), _mean(ft_margins)),
    }
    examples = []
    for i, ex in enumerate(pairs):
        examples.append({
            "line": ex.line,
            "prompt": _prompt_text(ex),
            "reference": joined_text(ex.chosen),
            "rejected": joined_text(ex.rejected),
            "base": base_answers[i] if i < len(shown) else "",
            "finetuned": ft_answers[i] if i < len(shown) else "",
            "scores": {"base": {"margin": base_margins[i], "prefers_chosen": base_margins[i] > 0},
                       "finetuned": {"margin": ft_margins[i], "prefers_chosen": ft_margins[i] > 0}},
        })
    verdict = preference_verdict(summary, len(pairs), cfg, run, base_margins, ft_margins)
    report = EvalReport("preference", "preference_accuracy", len(pairs), summary, verdict, examples,
                        settings={
                            "model": cfg.model.name, "model_path": str(base_path),
                            "objective": cfg.objective, "method": cfg.method,
                            "adapter": str(trained), "few_shot": 0, "max_examples": limit,
                            "max_new_tokens": max_new, "decoding": "greedy",
                            "score": "summed answer log-prob, chosen minus rejected",
                            "device": device, "dtype": str(dtype).replace("torch.", ""),
                            "held_out_source": "eval_path" if cfg.data.eval_path.strip()
                            else f"split of train_path ({cfg.data.eval_fraction:g}, seed "
                                 f"{cfg.training.seed})",
                            "chat_template_fallback": template_fallback, "judge": None,
                            "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    if cfg.eval.judge_url.strip():   # said, not silently skipped
        report.settings["judge_warning"] = (f"eval.judge_url is set, but a {label} run is scored "
                                            "by preference accuracy: the judge was not asked")
    section = render_section(report.to_dict())
    section += add_general_check(report, base_path, trained, tokenizer, load, progress, general)
    atomic_write_json(run.eval_path, report.to_dict())
    update_report(run.report_path, section, run.path.name)
    return report


def preference_verdict(summary: dict, n: int, cfg, run, base_margins: list[float] | None = None,
                       ft_margins: list[float] | None = None) -> dict[str, Any]:
    """Beat the base only when the gain is clear: the 95 % interval of the paired change in
    preference accuracy (pairs resampled, both models' answers kept together) lies above 0."""
    acc = summary["preference_accuracy"]
    base, ft, delta = acc["base"], acc["finetuned"], acc["delta"]
    interval = None
    if base_margins and ft_margins:
        interval = paired_bootstrap_delta([float(m > 0) for m in base_margins],
                                          [float(m > 0) for m in ft_margins])
    return compare_verdict(
        who="Preference tuning", against="the base model", on="preference accuracy",
        scores=f"{ft:.3f} vs {base:.3f} ({delta:+.3f}) of {n} held-out pairs prefer the chosen answer",
        delta=delta, interval=interval,
        reasons=lambda: _reasons(cfg, run, base, base_margins, ft_margins),
        n=n, few=FEW_PAIRS, unit="pairs")


def _reasons(cfg, run, base: float, base_margins: list[float] | None = None,
             ft_margins: list[float] | None = None) -> list[str]:
    reasons = []
    if base >= 0.9:
        reasons.append(f"the base model already prefers the chosen answer in {base:.0%} of pairs")
    if base_margins and ft_margins:
        up = sum(1 for b, f in zip(base_margins, ft_margins) if f > b)
        gain = _mean(ft_margins) - _mean(base_margins)
        if up > len(base_margins) / 2 and gain > 0:
            reasons.append(f"the tuned model moved toward the chosen answer on {up} of "
                           f"{len(base_margins)} pairs (mean margin {gain:+.1f} nats) but mostly "
                           "has not crossed over yet: train longer")
    steps, margins = 0, []
    for row in run.iter_metric_dicts():
        if row.get("type") == "log":
            steps = max(steps, int(row.get("step") or 0))
        elif row.get("type") == "preference" and row.get("split") == "train" and row.get("margin") is not None:
            margins.append(float(row["margin"]))
    if steps and steps < 50:
        reasons.append(f"only {steps} optimizer steps were run: train longer")
    if margins and max(margins[-5:]) <= 0.05:
        reasons.append("the training reward margin hardly opened: raise the learning rate or "
                       f"lower beta (now {cfg.preference.beta:g})")
    if not reasons:
        reasons.append("check the pairs: chosen should be clearly and consistently better than "
                       "rejected, and more pairs usually help")
    return reasons


def _row(base: float, ft: float) -> dict[str, float]:
    return {"base": base, "finetuned": ft, "delta": ft - base}


def _accuracy(margins: list[float]) -> float:
    return sum(1 for m in margins if m > 0) / len(margins)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _prompt_text(ex) -> str:
    turns = [m["content"] for m in ex.prompt_messages() if m["role"] != "system"]
    return turns[-1] if turns else ""

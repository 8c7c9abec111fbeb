"""Base vs fine-tuned evaluation of a finished run, on its held-out split.

Both models answer every held-out prompt greedily through the chat template: the base model
prompted (zero-shot, or few-shot with training examples as earlier turns) and the
fine-tuned model (base + PEFT adapter, or the fully fine-tuned weights). The answers are
scored with the task's metrics (see metrics.py), and the result goes to ``eval.json`` and
the evaluation section of ``report.md``. Base answers are cached on disk (the user cache
folder's ``base_answers/``), so evaluating a second run of the same model and data only runs
the fine-tuned model; its answers are kept in ``RUN_DIR/eval_answers/``. Both are written as
each batch finishes, so a crash or Ctrl+C loses at most one batch and the next evaluation
goes on from there.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any, Callable

from ft_tui.core.evaluate.answer_cache import AnswerCache, base_answer_cache
from ft_tui.core.atomic import atomic_write_json
from ft_tui.core.errors import SetupError
from ft_tui.core.evaluate.report import (EvalError, EvalReport, make_verdict, render_section,
                                         training_facts, update_report)
from ft_tui.core.models.generation import (free_memory, generate_greedy, generation_batch_size,
                                           render_prompt)
from ft_tui.core.models.loader import (base_and_tokenizer, inference_settings, load_base,
                                       load_finetuned)
from ft_tui.core.evaluate.general import add_general_check
from ft_tui.core.evaluate.judge import JudgeError, LLMJudge, configured_judge, plain_http_warning
from ft_tui.core.evaluate.preference import evaluate_preference_run
from ft_tui.core.evaluate.metrics import (MAIN_METRIC, detect_task_kind, main_change_interval,
                                          metric_names, score_example, summarize)
from ft_tui.core.objectives import objective_of
from ft_tui.core.paths import resolve_data_path
from ft_tui.core.run.artifacts import is_peft_adapter, open_run, trained_model_dir
from ft_tui.core.run.lock import RunLock
from ft_tui.core.run.rundir import RunDir

from ft_tui.core.evaluate.progress import AnswerCounter, ProgressFn


# ----- run directory and data -----------------------------------------------------------

def load_split(cfg) -> tuple[list, list]:
    """(training examples, held-out examples), exactly as the trainer splits them."""
    from ft_tui.core.data import load_examples
    from ft_tui.core.objectives.split import held_out_for_eval

    def load(path_text: str, key: str) -> list:
        path = resolve_data_path(path_text)
        if not path.exists():
            raise EvalError(f"{path}: data file not found (config {key}); fix the path in "
                            "the run's config.yaml")
        result = load_examples(path)
        if not result.examples:
            first = "; ".join(str(e) for e in list(result.errors)[:3])
            raise EvalError(f"{path}: no usable examples" + (f" ({first})" if first else ""))
        return list(result.examples)

    try:
        train, held_out = held_out_for_eval(cfg, load)
    except SetupError as exc:
        raise EvalError(str(exc)) from None
    # Scoring needs a question and its answer; plain-text examples have no such split.
    answerable = [ex for ex in held_out if ex.prompt_messages() and ex.completion_messages()]
    if not answerable:
        raise EvalError("the held-out examples are plain text with no prompt/answer split, so "
                        "there is nothing to compare answers with; evaluation needs chat, "
                        "instruction or prompt/completion data")
    return train, answerable


def pick_shots(train: list, k: int, seed: int) -> list:
    """k training examples for the few-shot prompt, covering distinct answers first (so a
    label task shows several labels), in a seeded order."""
    pool = [ex for ex in train if ex.prompt_messages()]
    random.Random(seed).shuffle(pool)
    chosen, seen = [], set()
    for ex in pool:
        answer = ex.output_text().strip()
        if answer not in seen:
            chosen.append(ex)
            seen.add(answer)
        if len(chosen) == k:
            return chosen
    taken = {id(ex) for ex in chosen}
    chosen += [ex for ex in pool if id(ex) not in taken][: k - len(chosen)]
    return chosen


def prompt_messages(example, system_prompt: str = "", shots: list | None = None) -> list[dict]:
    """The conversation the model answers: the example's own system message (or the run's
    default one), then any few-shot turns, then the example's prompt turns."""
    messages = [dict(m) for m in example.prompt_messages()]
    system = [m for m in messages if m["role"] == "system"]
    rest = [m for m in messages if m["role"] != "system"]
    if not system and system_prompt.strip():
        system = [{"role": "system", "content": system_prompt}]
    turns: list[dict] = []
    for shot in shots or []:
        turns += [dict(m) for m in shot.prompt_messages() if m["role"] != "system"]
        turns += [dict(m) for m in shot.completion_messages()]
    return system + turns + rest


def prompt_text(example) -> str:
    """What the example asks, for tables: its last non-system prompt turn."""
    turns = [m["content"] for m in example.prompt_messages() if m["role"] != "system"]
    return turns[-1] if turns else ""


def finetuned_answer_cache(run: RunDir, trained: Path, base_path: Path, max_new_tokens: int,
                           device: str, dtype) -> AnswerCache:
    """The fine-tuned model's answers, in ``RUN_DIR/eval_answers/``: kept across a crash or
    Ctrl+C, and new ones once the adapter (or the base under it) is saved again."""
    from ft_tui.core.evaluate.answer_cache import model_identity

    return AnswerCache(trained, {"max_new_tokens": max_new_tokens, "decoding": "greedy",
                                 "device": device, "dtype": str(dtype),
                                 "base": model_identity(base_path)},
                       root=run.path / "eval_answers")


# ----- the evaluation -----------------------------------------------------------------

def evaluate_run(run_dir: str | os.PathLike | RunDir, *, max_examples: int | None = None,
                 few_shot: int | None = None, on_progress: ProgressFn | None = None,
                 judge: LLMJudge | bool | None = None, general: bool = False) -> EvalReport:
    """:func:`_evaluate` while holding the run's lock: not while it trains (RunInUse)."""
    run = open_run(run_dir)
    with RunLock(run.path, "evaluating"):
        try:
            return _evaluate(run, max_examples=max_examples, few_shot=few_shot,
                             on_progress=on_progress, judge=judge, general=general)
        except SetupError as exc:   # the data or the base model, as the run's config names them
            raise EvalError(str(exc)) from None


def _evaluate(run_dir: str | os.PathLike | RunDir, *, max_examples: int | None = None,
              few_shot: int | None = None, on_progress: ProgressFn | None = None,
              judge: LLMJudge | bool | None = None, general: bool = False) -> EvalReport:
    """Compare the prompted base model with the fine-tuned one on the run's held-out split.
    Writes ``eval.json`` and the eval section of ``report.md``; returns the report.

    ``max_examples``/``few_shot`` default to the run's ``eval`` settings (0 examples: all).
    ``judge``: None uses ``eval.judge_url`` if set, False turns the judge off, or pass one.
    ``general``: also run the general-ability check (general.py) on both models and turn
    the verdict into ship / don't ship.
    ``on_progress(done, total, phase, tokens_per_s=None)`` with phase ``base``,
    ``finetuned``, ``judge`` or ``general``; ``done`` moves as each answer finishes, and the
    answering phases pass their generation speed.
    """
    run = open_run(run_dir)
    trained = trained_model_dir(run)
    cfg = run.load_config()
    evaluator = EVALUATORS[objective_of(cfg).evaluation]
    return evaluator(run, cfg, trained, max_examples=max_examples, few_shot=few_shot,
                     on_progress=on_progress, judge=judge, general=general)


def evaluate_answers(run: RunDir, cfg, trained: Path, *, max_examples: int | None = None,
                     few_shot: int | None = None, on_progress: ProgressFn | None = None,
                     judge: LLMJudge | bool | None = None, general: bool = False) -> EvalReport:
    """The evaluation of objectives scored by their answers (SFT): both models answer every
    held-out prompt, scored against the references with the task's metrics."""
    limit = cfg.eval.max_examples if max_examples is None else max_examples
    shots_k = cfg.eval.few_shot if few_shot is None else few_shot
    if limit < 0 or shots_k < 0:
        raise EvalError("--max-examples and --few-shot must be 0 or more")
    judge_note = None
    if judge is None:   # the config's judge is used only with consent (judge.py)
        try:
            judge, judge_note = configured_judge(cfg.eval, str(run.path))
        except JudgeError as exc:
            raise EvalError(str(exc)) from None
    progress = on_progress or (lambda done, total, phase, tokens_per_s=None: None)

    train, held_out = load_split(cfg)
    if limit:
        held_out = held_out[:limit]
    shots = pick_shots(train, shots_k, cfg.training.seed) if shots_k else []
    base_path, loaded = base_and_tokenizer(cfg, trained)
    tokenizer, template_fallback = loaded.tokenizer, loaded.fallback
    load = inference_settings(cfg)
    device, dtype = load["device"], load["dtype"]
    max_new = cfg.eval.max_new_tokens

    # Few-shot turns go to the base model only: the fine-tuned model is used as deployed.
    base_prompts = [render_prompt(tokenizer, prompt_messages(ex, cfg.data.system_prompt, shots))
                    for ex in held_out]
    ft_prompts = [render_prompt(tokenizer, prompt_messages(ex, cfg.data.system_prompt))
                  for ex in held_out]
    references = [ex.output_text() for ex in held_out]

    gen = {"tokenizer": tokenizer, "max_new_tokens": max_new,
           "batch_size": generation_batch_size(device)}
    cache = base_answer_cache(base_path, max_new, device, dtype)
    base_answers, from_cache, base_model = _cached_answers(
        cache, base_prompts, lambda: load_base(base_path, load), gen, progress, "base")
    if base_model is not None and not is_peft_adapter(trained):
        base_model = None  # a full fine-tune brings all its own weights: make room first
        free_memory()
    peft = is_peft_adapter(trained)
    ft_answers, ft_cached, _model = _cached_answers(
        finetuned_answer_cache(run, trained, base_path, max_new, device, dtype), ft_prompts,
        lambda: load_finetuned(base_path, trained, load, base_model if peft else None),
        gen, progress, "finetuned")
    base_model = _model = None
    free_memory()

    # The training answers show the task's shape too (a label set needs repeats to be seen).
    kind = detect_task_kind(references + [ex.output_text() for ex in train])
    report = _build_report(run, cfg, kind, held_out, references, base_answers, ft_answers, len(train),
                           settings={
                               "model": cfg.model.name, "model_path": str(base_path),
                               "method": cfg.method, "adapter": str(trained),
                               "few_shot": len(shots), "max_examples": limit,
                               "max_new_tokens": max_new, "decoding": "greedy",
                               "device": device, "dtype": str(dtype).replace("torch.", ""),
                               "held_out_source": "eval_path" if cfg.data.eval_path.strip()
                               else f"split of train_path ({cfg.data.eval_fraction:g}, seed "
                                    f"{cfg.training.seed})",
                               "base_answers_from_cache": from_cache,
                               "finetuned_answers_from_cache": ft_cached,
                               "chat_template_fallback": template_fallback,
                               "judge": None, "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                           })
    _note_data_changes(report, run, cfg)
    _note_overlap(report, cfg, train, held_out)
    if judge:
        _add_judge_scores(report, judge, progress)
    elif judge_note:
        report.settings["judge_error"] = judge_note
    section = render_section(report.to_dict())
    section += add_general_check(report, base_path, trained, tokenizer, load, progress, general)
    atomic_write_json(run.eval_path, report.to_dict())
    update_report(run.report_path, section, run.path.name)
    return report


def _cached_answers(cache: AnswerCache, prompts: list[str], get_model: Callable[[], Any],
                    gen: dict, progress: ProgressFn, phase: str):
    """(answers, how many came from the cache, the model ``get_model`` loaded or None).
    Only the prompts missing from the cache reach the model, and each answer is cached as
    its batch finishes: a crash or Ctrl+C loses at most one batch, and the next evaluation
    goes on from there."""
    answers = [cache.get(p) for p in prompts]
    missing = [i for i, a in enumerate(answers) if a is None]
    count = AnswerCounter(progress, len(prompts), phase, start=len(prompts) - len(missing))
    if not missing:
        return answers, len(prompts), None
    model = get_model()

    def keep(j: int, answer: str) -> None:
        answers[missing[j]] = answer
        cache.put(prompts[missing[j]], answer)

    generate_greedy(model, gen["tokenizer"], [prompts[i] for i in missing],
                    max_new_tokens=gen["max_new_tokens"], batch_size=gen["batch_size"],
                    on_batch=count.answered, on_answer=keep, on_tokens=count.generated)
    return answers, len(prompts) - len(missing), model


def _build_report(run: RunDir, cfg, kind: str, held_out: list, references: list[str],
                  base: list[str], finetuned: list[str], n_train: int,
                  settings: dict[str, Any]) -> EvalReport:
    main = MAIN_METRIC[kind]
    base_sum = summarize(kind, base, references)
    ft_sum = summarize(kind, finetuned, references)
    summary = {name: {"base": base_sum[name], "finetuned": ft_sum[name],
                      "delta": ft_sum[name] - base_sum[name]} for name in metric_names(kind)}
    examples = [{
        "line": ex.line,
        "prompt": prompt_text(ex),
        "reference": ref,
        "base": b,
        "finetuned": f,
        "scores": {"base": score_example(kind, b, ref), "finetuned": score_example(kind, f, ref)},
    } for ex, ref, b, f in zip(held_out, references, base, finetuned)]
    verdict = make_verdict(kind=kind, main_metric=main, base=base_sum[main], finetuned=ft_sum[main],
                           n_examples=len(held_out), n_train=n_train, cfg=cfg,
                           facts=training_facts(run),
                           interval=main_change_interval(kind, base, finetuned, references,
                                                         [ex["scores"] for ex in examples]))
    return EvalReport(kind, main, len(held_out), summary, verdict, examples, settings)


def _note_data_changes(report: EvalReport, run: RunDir, cfg) -> None:
    """A data file rewritten since training is scored with a warning, and the hashes of what
    was scored are kept in eval.json (data_hashes.json keeps what was trained on)."""
    from ft_tui.core.run.rundir import data_record

    changed = run.data_changes(cfg)
    if changed:
        report.settings["data_changed"] = "; ".join(changed) + (
            ": the scores are for the files as they are now, not as the run was trained with them")
    report.settings["data_sha256"] = {k: v["sha256"] for k, v in data_record(cfg).items()}


def _note_overlap(report: EvalReport, cfg, train: list, held_out: list) -> None:
    from ft_tui.core.data.overlap import eval_file_is_train_file, overlap_message

    note = overlap_message(((ex.line, ex.messages) for ex in train),
                           ((ex.line, ex.messages) for ex in held_out), eval_file_is_train_file(cfg))
    if note:
        report.settings["eval_overlap"] = note


def _add_judge_scores(report: EvalReport, judge: LLMJudge, progress: ProgressFn) -> None:
    """Grade both answers of every example; a judge failure is recorded, not fatal (the
    generations are the expensive part and are kept)."""
    report.settings["judge"] = {"url": judge.url, "model": judge.model}
    if judge.refusal():   # before anything is sent
        report.settings["judge_error"] = judge.refusal()
        return
    warning = plain_http_warning(judge.url)
    if warning:
        report.settings["judge_warning"] = warning
    totals = {"base": 0.0, "finetuned": 0.0}
    n = len(report.examples)
    try:
        for i, ex in enumerate(report.examples):
            for side in ("base", "finetuned"):
                score = judge.score(ex["prompt"], ex["reference"], ex[side])
                ex["scores"][side]["judge_score"] = score
                totals[side] += score
            progress(i + 1, n, "judge")
    except JudgeError as exc:
        report.settings["judge_error"] = str(exc)
        for ex in report.examples:
            for side in ("base", "finetuned"):
                ex["scores"][side].pop("judge_score", None)
        return
    base, ft = totals["base"] / n, totals["finetuned"] / n
    report.summary["judge_score"] = {"base": base, "finetuned": ft, "delta": ft - base}


# Which evaluator scores an objective (``Objective.evaluation``, core/objectives/).
EVALUATORS = {"answers": evaluate_answers, "pairs": evaluate_preference_run}

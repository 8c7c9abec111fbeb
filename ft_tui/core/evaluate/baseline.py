"""The prompted baseline, measured before any training: "does a prompt already do it?"

The base model answers the first N held-out examples of a data file greedily, zero-shot
with the system prompt and, when ``few_shot`` > 0, with k worked training examples as
earlier turns. The held-out split, the few-shot examples, the rendered prompts, the
generation settings and the metrics are exactly those of ``ft-tui eval`` (run.py), and
the answers go into the same on-disk answer cache: evaluating a run on this data later
does not compute these base answers again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ft_tui.core.evaluate.run import (EvalError, ProgressFn, base_answer_cache, load_split,
                                      pick_shots, prompt_messages, prompt_text)

DEFAULT_EXAMPLES = 20


class BaselineCancelled(Exception):
    """The user stopped the baseline; the answers computed so far are in the cache."""


@dataclass
class BaselineResult:
    data_path: str
    model: str
    task_kind: str
    main_metric: str
    n_examples: int
    # "zero_shot" and, when asked for, "few_shot": {metric: value}
    scores: dict[str, dict[str, float]]
    few_shot: int
    from_cache: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def best(self) -> tuple[str, float]:
        """(prompt kind, main-metric score) of the better prompt."""
        name = max(self.scores, key=lambda k: self.scores[k][self.main_metric])
        return name, self.scores[name][self.main_metric]

    def prompt_label(self, name: str) -> str:
        return f"{self.few_shot}-shot" if name == "few_shot" else "zero-shot"

    def to_dict(self) -> dict[str, Any]:
        return {"data_path": self.data_path, "model": self.model, "task_kind": self.task_kind,
                "main_metric": self.main_metric, "n_examples": self.n_examples,
                "few_shot": self.few_shot, "scores": self.scores,
                "base_answers_from_cache": self.from_cache, "examples": self.examples}


def measure_baseline(cfg, *, max_examples: int = DEFAULT_EXAMPLES, few_shot: int | None = None,
                     on_progress: ProgressFn | None = None,
                     should_stop: Callable[[], bool] | None = None,
                     on_tokens: Callable[[int], None] | None = None) -> BaselineResult:
    """Score the prompted base model of ``cfg`` (a RunConfig: model, data, system prompt,
    eval settings) on its held-out split. ``few_shot`` defaults to the config's
    ``eval.few_shot`` or 3 when that is 0. ``on_progress(done, total, phase)`` is called per
    answer with phase ``zero_shot``/``few_shot``, ``on_tokens(n)`` after each decoding step
    with the tokens it made (so a batch of long answers still shows movement); ``should_stop()`` is polled after every
    generated token and raises :class:`BaselineCancelled` (the answers of finished batches
    stay cached)."""
    from ft_tui.core.evaluate.metrics import MAIN_METRIC, detect_task_kind, summarize
    from ft_tui.core.errors import SetupError
    from ft_tui.core.models.generation import (GenerationStopped, free_memory,
                                               generation_batch_size, render_prompt)
    from ft_tui.core.models.loader import base_and_tokenizer, inference_settings, load_base

    if max_examples < 1:
        raise EvalError("the baseline needs at least 1 example (--max-examples)")
    k = (cfg.eval.few_shot or 3) if few_shot is None else few_shot
    if k < 0:
        raise EvalError("--few-shot must be 0 or more")
    progress = on_progress or (lambda done, total, phase: None)
    stop = should_stop or (lambda: False)

    train, held_out = load_split(cfg)
    held_out = held_out[:max_examples]
    try:
        base_path, loaded = base_and_tokenizer(cfg)   # the chat-template rule training uses
    except SetupError as exc:
        raise EvalError(f"base model: {exc}") from None
    tokenizer = loaded.tokenizer
    load = inference_settings(cfg)
    device, dtype = load["device"], load["dtype"]
    max_new = cfg.eval.max_new_tokens
    cache = base_answer_cache(base_path, max_new, device, dtype)
    references = [ex.output_text() for ex in held_out]
    kind = detect_task_kind(references + [ex.output_text() for ex in train])
    main = MAIN_METRIC[kind]

    conditions = {"zero_shot": []}
    if k:
        conditions["few_shot"] = pick_shots(train, k, cfg.training.seed)
    model = None
    answers: dict[str, list[str]] = {}
    from_cache = 0
    try:
        for name, shots in conditions.items():
            prompts = [render_prompt(tokenizer, prompt_messages(ex, cfg.data.system_prompt, shots))
                       for ex in held_out]
            got = [cache.get(p) for p in prompts]
            from_cache += sum(a is not None for a in got)
            todo = [i for i, answer in enumerate(got) if answer is None]
            progress(len(prompts) - len(todo), len(prompts), name)
            if todo:
                if stop():      # before loading the model for nothing
                    raise _cancelled(got, name)
                if model is None:
                    model = load_base(base_path, load)
                try:
                    _answer(model, tokenizer, prompts, got, todo, cache, name, progress, stop,
                            max_new, generation_batch_size(device), on_tokens)
                except GenerationStopped:
                    raise _cancelled(got, name) from None
            answers[name] = got  # type: ignore[assignment]
    finally:
        model = None
        free_memory()

    scores = {name: summarize(kind, answers[name], references) for name in conditions}
    examples = [{"line": ex.line, "prompt": prompt_text(ex), "reference": ref,
                 **{name: answers[name][i] for name in conditions}}
                for i, (ex, ref) in enumerate(zip(held_out, references))]
    return BaselineResult(data_path=cfg.data.train_path, model=cfg.model.name, task_kind=kind,
                          main_metric=main, n_examples=len(held_out), scores=scores,
                          few_shot=len(conditions.get("few_shot", [])), from_cache=from_cache,
                          examples=examples)


def _answer(model, tokenizer, prompts: list[str], got: list, todo: list[int], cache, phase: str,
            progress, stop, max_new: int, batch_size: int, on_tokens=None) -> None:
    """Fill ``got[i]`` for every ``i`` in ``todo``, batched; each answer is cached as its
    batch finishes and progress moves per answer."""
    from ft_tui.core.models.generation import generate_greedy

    done = [len(prompts) - len(todo)]

    def finished(n: int) -> None:
        done[0] += n
        progress(done[0], len(prompts), phase)

    def keep(j: int, answer: str) -> None:
        got[todo[j]] = answer
        cache.put(prompts[todo[j]], answer)

    generate_greedy(model, tokenizer, [prompts[i] for i in todo], max_new_tokens=max_new,
                    batch_size=batch_size, on_batch=finished, on_answer=keep, should_stop=stop,
                    on_tokens=on_tokens)


def _cancelled(got: list, phase: str) -> BaselineCancelled:
    kept = sum(a is not None for a in got)
    return BaselineCancelled(f"stopped after {kept} of {len(got)} "
                             f"{phase.replace('_', '-')} answers")

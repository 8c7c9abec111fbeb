"""Training rows from the user's data files, through the data engine.

TRL trains on two conversational shapes: ``{"prompt": [...], "completion": [...]}``, where
it masks the prompt so the loss covers only the answer (``training.completion_only_loss``),
and ``{"messages": [...]}``, where the loss covers the whole conversation. TRL's own
``assistant_only_loss`` needs ``{% generation %}`` markers that SmolLM2's chat template
lacks, so the prompt/completion split is how we get answer-only loss.

Bad data fails here, before any model is loaded, with the file and line numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_tui.core.paths import resolve_data_path
from ft_tui.core.training.device import SetupError

MAX_REPORTED_ISSUES = 5
SAMPLE_PROMPTS = 3


@dataclass
class TrainData:
    train_rows: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    # A few fixed held-out prompts shown as live generations: [{"messages", "reference"}]
    sample_prompts: list[dict[str, Any]] = field(default_factory=list)
    shape: str = "prompt_completion"   # or "messages"; "preference" (DPO) or "kto"


def load_training_data(cfg) -> TrainData:
    """Load, check and split the configured data; SetupError names every bad line."""
    from ft_tui.core.data import split_examples

    if getattr(cfg, "objective", "sft") != "sft":
        from ft_tui.core.training.preference_data import load_preference_data

        return load_preference_data(cfg)
    train = _load(cfg.data.train_path, "data.train_path")
    if cfg.data.eval_path.strip():
        held_out = _load(cfg.data.eval_path, "data.eval_path")
    elif cfg.data.eval_fraction > 0:
        # The same seeded split the evaluator makes, so it scores examples we never trained on.
        train, held_out = split_examples(train, cfg.data.eval_fraction, cfg.training.seed)
        train, held_out = list(train), list(held_out)
    else:
        held_out = []
    if not train:
        raise SetupError(f"{cfg.data.train_path}: no training examples left after holding out "
                         f"{cfg.data.eval_fraction:.0%}; add data or lower data.eval_fraction")
    return build_train_data(train, held_out, completion_only=cfg.training.completion_only_loss,
                            system_prompt=cfg.data.system_prompt)


def build_train_data(train: list, held_out: list, *, completion_only: bool = True,
                     system_prompt: str = "") -> TrainData:
    """Rows in the shape TRL wants, from data-engine ``Example`` objects (or anything with
    ``messages``, ``prompt_messages()`` and ``completion_messages()``)."""
    use_completion = completion_only and all(_has_answer(ex) for ex in [*train, *held_out])
    shape = "prompt_completion" if use_completion else "messages"
    samples = [{"messages": _with_system(list(ex.prompt_messages()), system_prompt),
                "reference": _text(ex.completion_messages())}
               for ex in held_out if _has_answer(ex)][:SAMPLE_PROMPTS]
    return TrainData([to_row(ex, shape, system_prompt) for ex in train],
                     [to_row(ex, shape, system_prompt) for ex in held_out], samples, shape)


def to_row(example, shape: str, system_prompt: str = "") -> dict[str, Any]:
    if shape == "prompt_completion":
        return {"prompt": _with_system(_plain(example.prompt_messages()), system_prompt),
                "completion": _plain(example.completion_messages())}
    return {"messages": _with_system(_plain(example.messages), system_prompt)}


# ----- helpers ---------------------------------------------------------------------------

def _load(path_text: str, key: str) -> list:
    from ft_tui.core.data import load_examples

    path = resolve_data_path(path_text)
    if not Path(path).is_file():
        raise SetupError(f"{key}: {path_text!r} is not a file; pass --data PATH or fix {key} "
                         "in the config")
    from ft_tui.core.training.preference_data import check_file_fits

    # Pairs or KTO rows: say what they are and which method fits, before reading further.
    check_file_fits(path, "sft", key)
    result = load_examples(path)
    errors = list(result.errors)
    if errors:
        shown = "; ".join(_describe(e) for e in errors[:MAX_REPORTED_ISSUES])
        more = f" (and {len(errors) - MAX_REPORTED_ISSUES} more)" if len(errors) > MAX_REPORTED_ISSUES else ""
        raise SetupError(f"{path}: {len(errors)} bad example(s): {shown}{more}. Fix them, or run "
                         f"`ft-tui inspect {path}` to see and clean them")
    if not result.examples:
        raise SetupError(f"{path}: no examples found; `ft-tui inspect {path}` shows the formats "
                         "ft-tui reads")
    return list(result.examples)


def _describe(issue) -> str:
    line = getattr(issue, "line", None)
    message = getattr(issue, "message", None) or str(issue)
    return f"line {line}: {message}" if line and str(line) not in message[:20] else message


def _has_answer(example) -> bool:
    return bool(example.completion_messages()) and bool(example.prompt_messages())


def _plain(messages) -> list[dict[str, str]]:
    # Only role and content reach the chat template; extra keys (weights, names) would
    # make datasets infer a ragged schema.
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _with_system(messages: list[dict], system_prompt: str) -> list[dict]:
    messages = _plain(messages)
    if system_prompt.strip() and not any(m["role"] == "system" for m in messages):
        return [{"role": "system", "content": system_prompt}, *messages]
    return messages


def _text(messages) -> str:
    return "\n".join(m["content"] for m in messages)

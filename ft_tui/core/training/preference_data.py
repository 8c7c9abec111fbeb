"""Preference rows for DPO and KTO, in the conversational shape TRL 1.16 trains on.

DPO reads ``{"prompt": [...], "chosen": [...], "rejected": [...]}`` and KTO
``{"prompt": [...], "completion": [...], "label": bool}`` (trl/trainer/dpo_trainer.py,
kto_trainer.py). Files may be written as

- ``{"prompt", "chosen", "rejected"}`` with strings or message lists (TRL's own form),
- ``{"chosen", "rejected"}`` as two whole conversations sharing their prompt turns
  (TRL's "implicit prompt" form, e.g. Anthropic HH),
- ``{"instruction", "input", "chosen", "rejected"}`` (Alpaca-style pairs),
- ``{"conversations", "chosen", "rejected"}`` with ShareGPT turns (LLaMA-Factory),
- ``{"prompt", "completion", "label"}`` for KTO.

Which objective a file fits is decided here (:func:`file_objective`) so that a pair file
given to SFT, or an SFT file given to DPO, fails with one message before any model loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_tui.core.training.device import SetupError

MAX_REPORTED = 5
SAMPLE_PROMPTS = 3
_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
          "system": "system", "model": "assistant"}


@dataclass
class Pair:
    """One preference example: shared prompt turns and the two (or, for KTO, one) answers."""

    line: int
    prompt: list[dict[str, str]]
    chosen: list[dict[str, str]]
    rejected: list[dict[str, str]]          # empty for KTO rows
    label: bool | None = None               # KTO: is ``chosen`` a good answer

    def output_text(self) -> str:           # lets the shared seeded split treat it like an Example
        return _text(self.chosen)

    def prompt_text(self) -> str:
        return "\n\n".join(m["content"] for m in self.prompt if m["role"] == "user")


class BadRows(SetupError):
    def __init__(self, message: str, issues: list[tuple[int, str]]):
        super().__init__(message)
        self.issues = issues


# ----- which objective a file is for -------------------------------------------------------

def row_kind(row: Any) -> str | None:
    """'dpo' for a pair row, 'kto' for a labelled row, None otherwise (SFT or unknown)."""
    if not isinstance(row, dict):
        return None
    if "chosen" in row and "rejected" in row:
        return "dpo"
    if "label" in row and ("completion" in row or "output" in row):
        return "kto"
    return None


def file_objective(path: str | Path) -> tuple[str, str]:
    """``(objective, format)`` read from the first row: ('dpo', 'preference pairs'),
    ('kto', 'labelled answers') or ('sft', the SFT format name). ('', '') when the file
    cannot be read or is empty (the loaders report why)."""
    from ft_tui.core.data.formats import detect_format
    from ft_tui.core.data.readers import file_kind, read_rows
    from ft_tui.core.data.types import Issue

    path = Path(path)
    try:
        for _line, value in read_rows(path, file_kind(path)):
            if isinstance(value, Issue):
                continue
            if isinstance(value, str):
                return "sft", "text"
            kind = row_kind(value)
            if kind == "dpo":
                return "dpo", "preference pairs (prompt, chosen, rejected)"
            if kind == "kto":
                return "kto", "labelled answers (prompt, completion, label)"
            fmt = detect_format(value)
            return ("sft", fmt) if fmt else ("", "")
    except OSError:
        return "", ""
    return "", ""


METHOD_FOR = {"sft": "--method sft (objective: sft)", "dpo": "--method dpo (objective: dpo)",
              "kto": "--method kto (objective: kto)"}


def check_file_fits(path: str | Path, objective: str, key: str = "data.train_path") -> None:
    """SetupError naming the format found and the objective that fits, when they differ."""
    found, fmt = file_objective(path)
    if not found or found == objective:
        return
    what = {"sft": "one answer per prompt (SFT data)", "dpo": "pairs of a better and a worse answer",
            "kto": "single answers labelled good or bad"}
    raise SetupError(
        f"{key}: {path} holds {fmt}: {what[found]}, but this run trains {objective.upper()}, "
        f"which needs {what[objective]}. Train it with {METHOD_FOR[found]}, or pick a "
        f"{'preference' if objective != 'sft' else 'demonstration'} file")


# ----- loading ---------------------------------------------------------------------------

def load_pairs(path: str | Path, objective: str, key: str = "data.train_path") -> list[Pair]:
    """Every row of ``path`` as a Pair; BadRows lists the bad lines (nothing is dropped)."""
    from ft_tui.core.data.readers import file_kind, read_rows
    from ft_tui.core.data.types import Issue

    path = Path(path)
    check_file_fits(path, objective, key)
    pairs: list[Pair] = []
    issues: list[tuple[int, str]] = []
    for line, value in read_rows(path, file_kind(path)):
        if isinstance(value, Issue):
            issues.append((value.line, value.message))
            continue
        try:
            pairs.append(parse_row(line, value, objective))
        except ValueError as exc:
            issues.append((line, str(exc)))
    if issues:
        shown = "; ".join(f"line {ln}: {msg}" for ln, msg in issues[:MAX_REPORTED])
        more = f" (and {len(issues) - MAX_REPORTED} more)" if len(issues) > MAX_REPORTED else ""
        raise BadRows(f"{path}: {len(issues)} bad row(s): {shown}{more}. Fix or remove those lines "
                      f"(`ft-tui inspect {path}` lists them all)", issues)
    if not pairs:
        raise SetupError(f"{path}: no {objective.upper()} rows found")
    return pairs


def parse_row(line: int, row: Any, objective: str) -> Pair:
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    if objective == "kto":
        return _kto_row(line, row)
    if "chosen" not in row or "rejected" not in row:
        raise ValueError("a DPO row needs 'chosen' and 'rejected'")
    prompt = _prompt(row)
    chosen, rejected = _answer(row["chosen"], "chosen"), _answer(row["rejected"], "rejected")
    if not prompt:  # implicit prompt: two whole conversations sharing their first turns
        prompt, chosen, rejected = _split_implicit(chosen, rejected)
    if not prompt:
        raise ValueError("no prompt: add 'prompt' (or 'instruction') or write chosen/rejected as "
                         "conversations that start with the same user turn")
    for side, msgs in (("chosen", chosen), ("rejected", rejected)):
        if not msgs or not _text(msgs).strip():
            raise ValueError(f"'{side}' is empty")
    if _text(chosen).strip() == _text(rejected).strip():
        raise ValueError("'chosen' and 'rejected' are the same answer, so there is no preference "
                         "to learn")
    return Pair(line, prompt, chosen, rejected)


def _kto_row(line: int, row: dict) -> Pair:
    label = row.get("label")
    if not isinstance(label, bool):
        raise ValueError(f"'label' must be true or false, got {label!r}")
    prompt = _prompt(row)
    answer = _answer(row.get("completion", row.get("output")), "completion")
    if not prompt:
        raise ValueError("'prompt' is missing or empty")
    if not answer or not _text(answer).strip():
        raise ValueError("'completion' is empty")
    return Pair(line, prompt, answer, [], label)


def _prompt(row: dict) -> list[dict[str, str]]:
    if "conversations" in row:
        turns = row["conversations"]
        if not isinstance(turns, list):
            raise ValueError("'conversations' must be a list of turns")
        out = [_message(t, f"conversations[{i}]") for i, t in enumerate(turns)]
    elif "prompt" in row:
        out = _messages(row["prompt"], "prompt", default_role="user")
    elif "instruction" in row or "input" in row:
        parts = [str(row.get(k) or "").strip() for k in ("instruction", "input")]
        text = "\n\n".join(p for p in parts if p)
        out = [{"role": "user", "content": text}] if text else []
    else:
        return []
    system = row.get("system")
    if isinstance(system, str) and system.strip() and not any(m["role"] == "system" for m in out):
        out = [{"role": "system", "content": system}, *out]
    if out and not any(m["content"].strip() for m in out if m["role"] == "user"):
        raise ValueError("the prompt is empty")
    return out


def _answer(value: Any, key: str) -> list[dict[str, str]]:
    if isinstance(value, dict):  # LLaMA-Factory: {"from": "gpt", "value": "..."}
        return [_message(value, key)]
    return _messages(value, key, default_role="assistant")


def _messages(value: Any, key: str, default_role: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": default_role, "content": value}] if value.strip() else []
    if isinstance(value, list):
        return [_message(m, f"{key}[{i}]") for i, m in enumerate(value)]
    if value is None:
        return []
    raise ValueError(f"'{key}' must be a string or a list of messages, got {type(value).__name__}")


def _message(m: Any, where: str) -> dict[str, str]:
    if not isinstance(m, dict):
        raise ValueError(f"{where} must be an object with 'role' and 'content'")
    role = m.get("role", m.get("from"))
    content = m.get("content", m.get("value"))
    role = _ROLES.get(role.lower()) if isinstance(role, str) else None
    if role is None:
        raise ValueError(f"{where} has no known role (system, user, assistant)")
    if not isinstance(content, str):
        raise ValueError(f"{where} content must be a string")
    return {"role": role, "content": content}


def _split_implicit(chosen, rejected):
    n = 0
    while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
        n += 1
    while n > 0 and chosen[n - 1]["role"] == "assistant":  # the answers start at an assistant turn
        n -= 1
    return chosen[:n], chosen[n:], rejected[n:]


def _text(messages) -> str:
    return "\n".join(m["content"] for m in messages)


# ----- rows for TRL ----------------------------------------------------------------------

def with_system(messages: list[dict], system_prompt: str) -> list[dict]:
    if system_prompt.strip() and not any(m["role"] == "system" for m in messages):
        return [{"role": "system", "content": system_prompt}, *messages]
    return list(messages)


def to_row(pair: Pair, system_prompt: str = "") -> dict[str, Any]:
    prompt = with_system(pair.prompt, system_prompt)
    if pair.label is not None:
        return {"prompt": prompt, "completion": pair.chosen, "label": pair.label}
    return {"prompt": prompt, "chosen": pair.chosen, "rejected": pair.rejected}


def load_preference_data(cfg):
    """TrainData for a DPO/KTO run: the same seeded split as SFT, rows in TRL's shape."""
    from ft_tui.core.data import split_examples
    from ft_tui.core.paths import resolve_data_path
    from ft_tui.core.training.dataset import TrainData

    objective = cfg.objective
    train = load_pairs(_existing(cfg.data.train_path, "data.train_path"), objective)
    if cfg.data.eval_path.strip():
        held_out = load_pairs(_existing(cfg.data.eval_path, "data.eval_path"), objective,
                              "data.eval_path")
    elif cfg.data.eval_fraction > 0:
        train, held_out = split_examples(train, cfg.data.eval_fraction, cfg.training.seed)
    else:
        held_out = []
    if not train:
        raise SetupError(f"{resolve_data_path(cfg.data.train_path)}: no training rows left after "
                         f"holding out {cfg.data.eval_fraction:.0%}")
    system = cfg.data.system_prompt
    samples = [{"messages": with_system(p.prompt, system), "reference": _text(p.chosen)}
               for p in held_out if p.label is not False][:SAMPLE_PROMPTS]
    return TrainData([to_row(p, system) for p in train], [to_row(p, system) for p in held_out],
                     samples, shape="kto" if objective == "kto" else "preference")


def load_eval_pairs(cfg) -> list[Pair]:
    """The held-out pairs of a run: its eval file, or the same seeded split it trained with."""
    from ft_tui.core.data import split_examples

    if cfg.data.eval_path.strip():
        return load_pairs(_existing(cfg.data.eval_path, "data.eval_path"), cfg.objective,
                          "data.eval_path")
    pairs = load_pairs(_existing(cfg.data.train_path, "data.train_path"), cfg.objective)
    fraction = cfg.data.eval_fraction if cfg.data.eval_fraction > 0 else 0.1
    return split_examples(pairs, fraction, cfg.training.seed)[1]


def _existing(path_text: str, key: str) -> Path:
    from ft_tui.core.paths import resolve_data_path

    path = resolve_data_path(path_text)
    if not path.is_file():
        raise SetupError(f"{key}: {path_text!r} is not a file; pass --data PATH or fix {key} in "
                         "the config")
    return path

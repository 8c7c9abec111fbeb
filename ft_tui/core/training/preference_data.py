"""Preference rows for DPO and KTO, in the conversational shape TRL 1.16 trains on.

DPO reads ``{"prompt": [...], "chosen": [...], "rejected": [...]}`` and KTO
``{"prompt": [...], "completion": [...], "label": bool}`` (trl/trainer/dpo_trainer.py,
kto_trainer.py). The data engine (``ft_tui.core.data``) reads every file layout and checks
each pair by line; this module only decides which objective a file fits, so that a pair
file given to SFT, or an SFT file given to DPO, fails with one message before any model
loads, and turns the engine's examples into TRL rows with the same seeded split as SFT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ft_tui.core.errors import SetupError

MAX_REPORTED = 5
SAMPLE_PROMPTS = 3
OBJECTIVE_OF_FORMAT = {"preference": "dpo", "kto": "kto"}   # every other format is SFT data


class BadRows(SetupError):
    def __init__(self, message: str, issues: list):
        super().__init__(message)
        self.issues = issues


# ----- which objective a file is for -------------------------------------------------------

def file_objective(path: str | Path) -> tuple[str, str]:
    """``(objective, format)`` from the first row the data engine recognises: ('dpo',
    'preference'), ('kto', 'kto') or ('sft', e.g. 'openai_chat'); ('', '') when no row is
    recognisable (the loaders then report why, line by line)."""
    from ft_tui.core.data import ExampleStream

    stream = ExampleStream(path)
    try:
        for _item in stream:
            if stream.format is not None:
                break
    except OSError:
        return "", ""
    fmt = stream.format
    if fmt is None:
        return "", ""
    return OBJECTIVE_OF_FORMAT.get(fmt, "sft"), fmt


METHOD_FOR = {"sft": "--method sft", "dpo": "--method dpo", "kto": "--method kto"}
WHAT = {"sft": "one answer per prompt to imitate (SFT data)",
        "dpo": "pairs of a chosen and a rejected answer (prompt, chosen, rejected)",
        "kto": "single answers labelled true (imitate) or false (avoid)"}
FORMAT_NAME = {"preference": "preference pairs (prompt, chosen, rejected)",
               "kto": "KTO rows (answers with a true/false label)"}


def check_file_fits(path: str | Path, objective: str, key: str = "data.train_path") -> None:
    """SetupError naming the format found and the objective that fits, when they differ."""
    found, fmt = file_objective(path)
    if not found or found == objective:
        return
    why = ""
    if objective == "sft" and found == "kto":
        why = " (supervised fine-tuning would learn the false answers as targets)"
    elif objective == "sft":
        why = " (supervised fine-tuning cannot train on pairs)"
    raise SetupError(
        f"{key}: {path} holds {FORMAT_NAME.get(fmt, f'{fmt} examples')}, but this run trains "
        f"{objective.upper()}, which needs {WHAT[objective]}{why}. Train this file with "
        f"{METHOD_FOR[found]}, or pick a file of {WHAT[objective]}")


# ----- loading ---------------------------------------------------------------------------

def load_pairs(path: str | Path, objective: str, key: str = "data.train_path") -> list:
    """The file's examples (with ``chosen``/``rejected`` or ``label``); BadRows lists every
    bad line (chosen == rejected, an empty side, ...); nothing is dropped silently."""
    from ft_tui.core.data import load_examples

    path = Path(path)
    check_file_fits(path, objective, key)
    result = load_examples(path)
    issues = list(result.errors)
    if issues:
        shown = "; ".join(str(i) for i in issues[:MAX_REPORTED])
        more = f" (and {len(issues) - MAX_REPORTED} more)" if len(issues) > MAX_REPORTED else ""
        raise BadRows(f"{path}: {len(issues)} bad row(s): {shown}{more}. Fix or remove those lines "
                      f"(`ft-tui inspect {path}` lists them all and writes a cleaned copy)", issues)
    if not result.examples:
        raise SetupError(f"{path}: no {objective.upper()} rows found")
    return list(result.examples)


# ----- rows for TRL ----------------------------------------------------------------------

def with_system(messages: list[dict], system_prompt: str) -> list[dict]:
    messages = [{"role": m["role"], "content": m["content"]} for m in messages]
    if system_prompt.strip() and not any(m["role"] == "system" for m in messages):
        return [{"role": "system", "content": system_prompt}, *messages]
    return messages


def _plain(messages) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def to_row(ex, system_prompt: str = "") -> dict[str, Any]:
    prompt = with_system(ex.prompt_messages(), system_prompt)
    if ex.chosen is None:   # KTO
        return {"prompt": prompt, "completion": _plain(ex.completion_messages()), "label": ex.label}
    return {"prompt": prompt, "chosen": _plain(ex.chosen), "rejected": _plain(ex.rejected)}


def _text(messages) -> str:
    return "\n".join(m["content"] for m in messages)


def load_preference_data(cfg):
    """TrainData for a DPO/KTO run: the same seeded split as SFT, rows in TRL's shape."""
    from ft_tui.core.objectives.split import split_held_out
    from ft_tui.core.training.dataset import TrainData

    objective = cfg.objective
    train, held_out = split_held_out(cfg, lambda text, key: load_pairs(_existing(text, key),
                                                                        objective, key))
    if objective == "kto":   # trained in a fixed order (see preference.py): shuffle once, seeded
        import random

        train = list(train)
        random.Random(cfg.training.seed).shuffle(train)
    system = cfg.data.system_prompt
    samples = [{"messages": with_system(ex.prompt_messages(), system),
                "reference": _text(ex.completion_messages())}
               for ex in held_out if ex.label is not False][:SAMPLE_PROMPTS]
    return TrainData([to_row(p, system) for p in train], [to_row(p, system) for p in held_out],
                     samples, shape="kto" if objective == "kto" else "preference")


def load_eval_pairs(cfg) -> list:
    """The held-out pairs of a run: its eval file, or the same seeded split it trained with;
    SetupError when it held nothing out (never its training pairs)."""
    from ft_tui.core.objectives.split import held_out_for_eval

    return held_out_for_eval(cfg, lambda text, key: load_pairs(_existing(text, key),
                                                               cfg.objective, key))[1]


def _existing(path_text: str, key: str) -> Path:
    from ft_tui.core.paths import resolve_data_path

    path = resolve_data_path(path_text)
    if not path.is_file():
        raise SetupError(f"{key}: {path_text!r} is not a file; pass --data PATH or fix {key} in "
                         "the config")
    return path

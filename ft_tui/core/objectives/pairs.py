"""Preference rows for DPO, KTO and ORPO, in the conversational shape TRL 1.16 trains on.

DPO and ORPO read ``{"prompt": [...], "chosen": [...], "rejected": [...]}`` and KTO
``{"prompt": [...], "completion": [...], "label": bool}`` (trl/trainer/dpo_trainer.py,
kto_trainer.py, trl/experimental/orpo/orpo_trainer.py). The data engine
(``ft_tui.core.data``) reads every file layout and checks each row by line; this module
turns its examples into TRL rows, held out by the one split (``split.py``).
"""

from __future__ import annotations

import json
from typing import Any

from ft_tui.core.objectives.base import SAMPLE_PROMPTS, load_rows


def pair_row(ex, system_prompt: str = "") -> dict[str, Any]:
    """A DPO/ORPO row: the shared prompt, the chosen and the rejected continuation."""
    from ft_tui.core.training.dataset import plain, with_system

    return {"prompt": with_system(ex.prompt_messages(), system_prompt),
            "chosen": plain(ex.chosen), "rejected": plain(ex.rejected)}


def labelled_row(ex, system_prompt: str = "") -> dict[str, Any]:
    """A KTO row: the prompt, one answer, and whether it is one to imitate. The row's tool
    schemas go along as JSON text (TRL's KTOTrainer reads a ``tools`` column as such)."""
    from ft_tui.core.training.dataset import plain, with_system

    row = {"prompt": with_system(ex.prompt_messages(), system_prompt),
           "completion": plain(ex.completion_messages()), "label": ex.label}
    if ex.tools:
        row["tools"] = json.dumps(ex.tools)
    return row


def _same_columns(rows: list[dict]) -> list[dict]:
    """``datasets`` takes its columns from the first row: where some rows carry ``tools``,
    every row gets the column (None where it has none), so none is lost."""
    if any("tools" in row for row in rows):
        for row in rows:
            row.setdefault("tools", None)
    return rows


def rows_train_data(cfg, to_row, shape: str, *, shuffle: bool = False):
    """TrainData of a preference run: the one split, rows in TRL's shape, a few held-out
    prompts (with an answer to imitate) for the live samples. ``shuffle``: the rows are
    trained in a fixed order (KTO), so they are shuffled once, seeded."""
    from ft_tui.core.objectives.split import split_held_out
    from ft_tui.core.training.dataset import TrainData, joined_text, with_system

    train, held_out = split_held_out(cfg, load_rows)
    if shuffle:
        import random

        random.Random(cfg.training.seed).shuffle(train)
    system = cfg.data.system_prompt
    samples = [{"messages": with_system(ex.prompt_messages(), system),
                "reference": joined_text(ex.completion_messages())}
               for ex in held_out if ex.label is not False][:SAMPLE_PROMPTS]
    return TrainData(_same_columns([to_row(ex, system) for ex in train]),
                     _same_columns([to_row(ex, system) for ex in held_out]), samples, shape=shape)

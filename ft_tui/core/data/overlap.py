"""Held-out rows that are also training rows: the verdict and the gate would then be
measured on memorised examples. Checked when a run starts and when it is evaluated.

A row matches when its conversation is the same as a training row's (exact), or the same
up to case, spacing and punctuation (near: the data checks' ``near_key``).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from ft_tui.core.data.checks import near_key

MAX_LINES_SHOWN = 8


def _texts(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content, sort_keys=True)
        out.append((str(m.get("role")), text))
    return out


def eval_file_is_train_file(cfg) -> bool:
    """data.eval_path names the training file itself."""
    from ft_tui.core.paths import resolve_data_path

    return bool(cfg.data.eval_path.strip()) and (
        resolve_data_path(cfg.data.eval_path).resolve() == resolve_data_path(cfg.data.train_path).resolve())


def overlap_message(train: Iterable[tuple[int, list[dict]]], held_out: Iterable[tuple[int, list[dict]]],
                    same_file: bool = False) -> str | None:
    """One warning when held-out rows (``(line, messages)`` pairs) also occur in the
    training rows, else None. ``same_file``: the held-out file is the training file."""
    exact: set = set()
    near: set = set()
    for _line, messages in train:
        texts = _texts(messages)
        exact.add(tuple(texts))
        near.add(tuple((role, near_key(text)) for role, text in texts))
    held = list(held_out)
    same, close = [], []
    for line, messages in held:
        texts = _texts(messages)
        if tuple(texts) in exact:
            same.append(line)
        elif tuple((role, near_key(text)) for role, text in texts) in near:
            close.append(line)
    if not same and not close:
        return None
    lines = sorted(same + close)
    shown = ", ".join(map(str, lines[:MAX_LINES_SHOWN])) + (" …" if len(lines) > MAX_LINES_SHOWN else "")
    what = "the held-out file is the training file: " if same_file else ""
    return (f"{what}{len(lines)} of {len(held)} held-out examples also occur in the training "
            f"data ({len(same)} exactly, {len(close)} up to case, spacing and punctuation; "
            f"held-out lines {shown}), so the evaluation partly measures memorised rows; "
            "remove them from one of the files (`ft-tui inspect FILE --split` writes two "
            "disjoint files)")

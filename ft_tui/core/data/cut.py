"""Where ``data.max_length`` cuts a rendered example: the trainer keeps the first
``max_length`` tokens, so what follows is never seen and never trained. Used by the
Samples tab and ``ft-tui inspect --show-mask`` to show the example exactly as trained."""

from __future__ import annotations

from typing import Any


def cut_offset(tokenizer: Any, text: str, input_ids: list[int], max_length: int | None) -> int:
    """The character offset in ``text`` where truncation to ``max_length`` tokens falls
    (``len(text)`` when nothing is cut), found by decoding the kept tokens."""
    if max_length is None or len(input_ids) <= max_length:
        return len(text)
    head = tokenizer.decode(input_ids[:max_length])
    if text.startswith(head):
        return len(head)
    n = 0
    for a, b in zip(text, head):
        if a != b:
            break
        n += 1
    return n


def split_segments(segments: list[dict[str, Any]], cut: int) -> list[dict[str, Any]]:
    """``[{"text", "trained"}]`` with each piece after ``cut`` marked ``"cut": True`` (and
    no longer trained), splitting the piece the cut falls in."""
    out: list[dict[str, Any]] = []
    at = 0
    for seg in segments:
        piece = seg["text"]
        keep = piece[:max(0, cut - at)]
        lost = piece[len(keep):]
        if keep:
            out.append({"text": keep, "trained": seg["trained"], "cut": False})
        if lost:
            out.append({"text": lost, "trained": False, "cut": True,
                        "was_trained": seg["trained"]})
        at += len(piece)
    return out

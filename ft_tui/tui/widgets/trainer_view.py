"""One SFT example as the trainer will see it: the chat template's text (with any system
prompt the template injects by itself), the trained tokens marked, and what
``data.max_length`` cuts off marked as not trained.

The mask is core's (``core.data.masks.build_mask``); this module only draws it. The cut
is where the first ``max_length`` tokens end, found by decoding them (the trainer keeps the
start of a too-long example).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text


@dataclass
class TrainerView:
    text: Text                       # the rendered template, styled
    summary: str                     # one line: tokens, trained, cut
    cut_turns: dict[int, bool]       # message index -> True when fully cut, False when partly
    injected_system: bool            # the template added a system prompt of its own


def trainer_view(tokenizer: Any, example: Any, train_on: str, max_length: int) -> TrainerView | None:
    """The view of ``example`` (a data Example with messages), or None when the template
    cannot render it (the Errors tab says why)."""
    from ft_tui.core.data.cut import cut_offset, split_segments
    from ft_tui.core.data.masks import TemplateError, build_mask, targets

    messages = getattr(example, "messages", None)
    if not messages:
        return None
    try:
        masked = build_mask(tokenizer, messages, getattr(example, "tools", None), train_on)
    except (TemplateError, ValueError, TypeError):
        return None
    n_tokens = len(masked.input_ids)
    cut = cut_offset(tokenizer, masked.text, masked.input_ids, max_length)
    text = Text()
    for seg in split_segments(masked.segments(), cut):
        if seg["cut"]:
            text.append(seg["text"], style="strike red" if seg["was_trained"] else "strike dim")
        else:
            text.append(seg["text"], style="bold green" if seg["trained"] else "dim")
    kept_trained = sum(1 for x in masked.labels[:max_length] if x != -100)
    summary = f"{n_tokens} tokens, {kept_trained} trained"
    if n_tokens > max_length:
        lost = masked.n_trained - kept_trained
        summary += (f"; cut at max_length {max_length}: the last {n_tokens - max_length} tokens "
                    f"are not seen ({lost} answer tokens not trained, struck through)")
    cut_turns: dict[int, bool] = {}
    trained_turns = targets(messages, train_on)
    if len(masked.spans) == len(trained_turns):
        for index, (start, end) in zip(trained_turns, masked.spans):
            if end > cut:
                cut_turns[index] = start >= cut
    has_system = any(m.get("role") == "system" for m in messages)
    first_user = next((m.get("content") for m in messages if m.get("role") == "user"), None)
    before = masked.text.split(first_user, 1)[0] if isinstance(first_user, str) and first_user else ""
    injected = not has_system and "system" in before.lower()
    return TrainerView(text, summary, cut_turns, injected)


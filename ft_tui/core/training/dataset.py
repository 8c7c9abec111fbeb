"""Training rows from the user's data files, through the data engine.

Two steps. The objective's ``train_data`` (``ft_tui.core.objectives``) reads and checks the
files before any model is loaded (bad data fails here, with the file and line numbers) and
``build_train_data`` keeps each conversation whole:
its tool calls, the row's ``tools`` schema and per-message ``weight``.
``TrainData.tokenize(tokenizer)``, once the tokenizer is loaded, turns every conversation
into TRL's pre-tokenised row ``{"input_ids", "labels"}`` (``labels`` -100 where no loss is
taken; TRL 1.16's SFTTrainer uses such a ``labels`` column as is). Which tokens are
trained is decided in ``ft_tui.core.data.masks``: every assistant turn by default
(``data.train_on = "all_assistant"``, the convention of LLaMA-Factory and Axolotl), or
the last one only (``"last_assistant"``); ``training.completion_only_loss = false`` trains
every token.

``train_rows``/``eval_rows`` before ``tokenize`` are the conversational rows the
standalone-script export writes (``{"prompt", "completion"}`` or ``{"messages"}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ft_tui.core.data.masks import NOT_PREFIX_STABLE as NOT_PREFIX_STABLE_NOTE
from ft_tui.core.errors import SetupError

SAMPLE_PROMPTS = 3


@dataclass
class TrainData:
    train_rows: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    # A few fixed held-out prompts shown as live generations: [{"messages", "reference"}]
    sample_prompts: list[dict[str, Any]] = field(default_factory=list)
    # or "messages"; "tokenized" after tokenize(); "preference" (DPO) or "kto"
    shape: str = "prompt_completion"
    # (messages, tools) per train / eval row, for tokenize()
    conversations: tuple[list, list] = ((), ())
    train_on: str = "all_assistant"
    completion_only: bool = True
    # The trainer's truncation (data.max_length; None when packing, which never cuts)
    max_length: int | None = None
    # SFT: whether the loss covers the answers only (sft_args.completion_only), decided
    # before tokenize() changes the shape
    answers_only: bool = True

    def tokenize(self, tokenizer) -> list[str]:
        """Replace the rows by pre-tokenised ``{"input_ids", "labels"}`` rows; returns notes
        for the user (turns not trained as asked, rows with nothing to train)."""
        from ft_tui.core.data.masks import TemplateError, build_mask, trained_within
        from ft_tui.core.data.tokens import bounded_messages, char_bound

        # The trainer keeps max_length tokens: a message of megabytes (a pasted log) is cut
        # first where it has more than that, so it is not tokenised whole (tens of seconds
        # and gigabytes for 50 MB). The kept tokens are the same. Packing never cuts.
        bound = char_bound(tokenizer, self.max_length) if self.max_length else None
        notes: list[str] = []
        out: list[list[dict[str, Any]]] = []
        fallback = nothing = 0
        cut: list[list[int]] = [[], []]   # lines left with no trained token by truncation
        for which, part in enumerate(self.conversations):
            rows = []
            for line, messages, tools in part:
                if bound is not None:
                    messages = bounded_messages(messages, bound)
                try:
                    masked = build_mask(tokenizer, messages, tools, self.train_on)
                except TemplateError as exc:
                    raise SetupError(f"line {line}: {exc}") from None
                labels = masked.labels if self.completion_only else list(masked.input_ids)
                fallback += bool(masked.fallback) and self.train_on == "all_assistant"
                if all(x == -100 for x in labels):
                    nothing += 1
                    continue
                if not trained_within(labels, self.max_length):
                    cut[which].append(line)
                    continue
                rows.append({"input_ids": masked.input_ids, "labels": labels})
            out.append(rows)
        if fallback:
            notes.append(f"{fallback} conversation(s): {NOT_PREFIX_STABLE_NOTE}")
        if nothing:
            notes.append(f"{nothing} example(s) have nothing to train (every assistant message "
                         "has weight 0) and were left out")
        for lines, what in zip(cut, ("training", "held-out")):
            if lines:
                notes.append(untrained_note(lines, what, self.max_length))
        if cut[0] and not out[0]:
            raise SetupError(f"no training example has a trained token within data.max_length "
                             f"{self.max_length}: every answer starts after the cut (lines "
                             f"{_lines(cut[0])}); raise data.max_length or shorten the prompts")
        if not out[0]:
            raise SetupError("no training example has a trained token (every assistant message "
                             "has weight 0?); give the answers to learn weight 1")
        self.train_rows, self.eval_rows = out[0], out[1]
        self.shape = "tokenized"
        return notes


def untrained_note(lines: list[int], what: str, max_length: int | None) -> str:
    return (f"{len(lines)} {what} example(s) have no trained token within data.max_length "
            f"{max_length} (lines {_lines(lines)}): the prompt fills the limit and the answer is "
            "cut off, so they contribute no loss and are left out; raise data.max_length or "
            "shorten them (`ft-tui inspect FILE --max-length N` lists them)")


def _lines(lines: list[int], shown: int = 10) -> str:
    more = f" … (+{len(lines) - shown})" if len(lines) > shown else ""
    return ", ".join(map(str, lines[:shown])) + more


def build_train_data(train: list, held_out: list, *, completion_only: bool = True,
                     system_prompt: str = "", train_on: str = "all_assistant",
                     max_length: int | None = None) -> TrainData:
    """Rows in the shape TRL wants, from data-engine ``Example`` objects (or anything with
    ``messages``, ``prompt_messages()`` and ``completion_messages()``)."""
    use_completion = completion_only and all(_has_answer(ex) for ex in [*train, *held_out])
    shape = "prompt_completion" if use_completion else "messages"
    samples = [{"messages": with_system(list(ex.prompt_messages()), system_prompt),
                "reference": joined_text(ex.completion_messages())}
               for ex in held_out if _has_answer(ex)][:SAMPLE_PROMPTS]
    conversations = tuple([conversation(ex, system_prompt) for ex in part]
                          for part in (train, held_out))
    return TrainData([to_row(ex, shape, system_prompt) for ex in train],
                     [to_row(ex, shape, system_prompt) for ex in held_out], samples, shape,
                     conversations, train_on, completion_only, max_length)


def conversation(example, system_prompt: str = "") -> tuple[int, list[dict], list | None]:
    """``(line, messages, tools)`` as the chat template gets them: tool calls, tool names
    and per-message weights kept, the configured system prompt added where none is."""
    messages = [dict(m) for m in example.messages]
    if system_prompt.strip() and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system_prompt})
    return getattr(example, "line", 0), messages, getattr(example, "tools", None)


def to_row(example, shape: str, system_prompt: str = "") -> dict[str, Any]:
    if shape == "prompt_completion":
        return {"prompt": with_system(plain(example.prompt_messages()), system_prompt),
                "completion": plain(example.completion_messages())}
    return {"messages": with_system(plain(example.messages), system_prompt)}


# ----- helpers ---------------------------------------------------------------------------

def _has_answer(example) -> bool:
    return bool(example.completion_messages()) and bool(example.prompt_messages())


def plain(messages) -> list[dict[str, str]]:
    """Only role and content: what TRL's conversational rows carry (extra keys such as
    weights or names would make ``datasets`` infer a ragged schema)."""
    return [{"role": m["role"], "content": m["content"]} for m in messages or []]


def with_system(messages, system_prompt: str) -> list[dict[str, str]]:
    """``messages`` (plain) with the configured system prompt first, where none is."""
    messages = plain(messages)
    if system_prompt.strip() and not any(m["role"] == "system" for m in messages):
        return [{"role": "system", "content": system_prompt}, *messages]
    return messages


def joined_text(messages) -> str:
    return "\n".join(m["content"] for m in messages or [])


def eval_subset(rows: list, max_rows: int) -> list:
    """The held-out rows an in-training evaluation scores: the first ``max_rows`` (0: all).
    The same rows every time, so successive eval losses compare."""
    return rows[:max_rows] if max_rows > 0 else rows

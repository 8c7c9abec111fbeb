"""The data engine's value types: one normalised example, one problem, one load result.

Error codes are stable (scripts and the UI match on them):

=================  ==============================================================
``invalid_json``   the line (or array element) is not valid JSON
``not_utf8``       the bytes are not UTF-8 text
``unknown_format`` a JSON value that matches none of the five formats
``mixed_format``   a row in a different format than the rest of the file
``missing_field``  a required key is absent (``messages``, ``output``, a role ...)
``wrong_type``     a key has the wrong JSON type (``content`` is a number ...)
``invalid_role``   a role/``from`` value we do not know
``empty_content``  a message, prompt or answer that is empty or only spaces
``no_assistant_turn`` a conversation with nothing for the model to learn to say
``identical_pair`` a preference pair whose chosen and rejected answers are the same
``no_shared_prompt`` a preference pair whose two sides do not start from one prompt
``unknown_key``    a misspelled key (``contnet``), named with the key it should be
``unknown_tool``   a tool call to a tool the row's ``tools`` schema does not define
``invalid_csv``    a CSV row that cannot be parsed, or two CSV parsers that count the rows differently
``compressed``     a compressed file ft-tui cannot unpack (its format named)
``chat_markup``    text that already holds a chat template's markup ft-tui cannot split into turns
=================  ==============================================================

Formats: the five supervised ones (``openai_chat``, ``sharegpt``, ``alpaca``,
``prompt_completion``, ``text``) plus ``preference`` (DPO pairs) and ``kto`` (answers
labelled good or bad), which supervised fine-tuning cannot use as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORMATS = ("openai_chat", "sharegpt", "alpaca", "prompt_completion", "text", "preference", "kto")
SFT_FORMATS = FORMATS[:5]

ERROR_CODES = ("invalid_json", "not_utf8", "unknown_format", "mixed_format", "missing_field",
               "wrong_type", "invalid_role", "empty_content", "no_assistant_turn",
               "identical_pair", "no_shared_prompt", "unknown_key", "unknown_tool", "invalid_csv",
               "compressed", "chat_markup")

ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class Issue:
    """One problem, on the 1-based physical line where its example starts."""

    line: int
    code: str
    message: str
    rows: int = 1   # rows with this same problem, said once (see IssueLog)

    def to_dict(self) -> dict[str, Any]:
        line = str(self.line) if hasattr(self.line, "source") else self.line  # "file:line"
        out = {"line": line, "code": self.code, "message": self.message}
        if self.rows > 1:
            out["rows"] = self.rows
        return out

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class IssueLog:
    """Problems in file order, where one problem on many rows is said once: from its
    ``FOLD_AFTER``-th repeat on, a row with the same code and message only adds to a count
    (and a few sample lines) on the first one. Memory stays bounded for a file whose every
    row has the same fault (a header no format can use, a missing column)."""

    FOLD_AFTER = 3
    SAMPLE_LINES = 10

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.total = 0
        self._seen: dict[tuple[str, str], list] = {}   # key -> [index, count, sample lines]

    def add(self, issue: Issue) -> None:
        self.total += 1
        key = (issue.code, issue.message)
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = [len(self.issues), 1, []]
            self.issues.append(issue)
            return
        seen[1] += 1
        if seen[1] <= self.FOLD_AFTER:
            self.issues.append(issue)
        elif len(seen[2]) < self.SAMPLE_LINES:
            seen[2].append(issue.line)

    def result(self, n_examples: int = 0) -> list[Issue]:
        """The issues, each folded one naming how many rows share it; when every row read
        has the same problem (no example was read), that one issue says so, once."""
        out = list(self.issues)
        rows_read = n_examples + self.total
        if len(self._seen) == 1:
            (key, (index, count, _)), = self._seen.items()
            if count == rows_read and count > 1:
                first = self.issues[index]
                return [Issue(first.line, first.code, f"every row ({count}) has this problem, so "
                                                      f"it is said once: {first.message}", count)]
        for (code, message), (index, count, sample) in self._seen.items():
            if count > self.FOLD_AFTER:
                more = ", ".join(map(str, sample)) + (" …" if count - self.FOLD_AFTER > len(sample) else "")
                first = self.issues[index]
                out[index] = Issue(first.line, code, f"{message} (the same on {count} rows; "
                                                     f"after the first {self.FOLD_AFTER}: lines {more})",
                                   count - self.FOLD_AFTER + 1)
        return out


class RowError(ValueError):
    """Raised inside normalisation; the loader turns it into an Issue with the row's line."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Example:
    """One training example in TRL's conversational form.

    ``messages`` is a list of ``{"role", "content"}`` dicts (roles system/user/assistant/
    tool), with ``tool_calls`` on assistant messages and ``weight`` where the file had them;
    ``tools`` is the row's tool schema list, if any.

    Preference rows (``fmt == "preference"``, whatever file layout they came in) carry
    ``chosen`` and ``rejected``: each the list of messages that continues the shared prompt
    (usually one assistant message). ``messages`` is then the shared prompt followed by the
    chosen side, so ``prompt_messages()`` is the shared prompt and ``completion_messages()``
    is ``chosen``. TRL's conversational DPO row is therefore::

        {"prompt": ex.prompt_messages(), "chosen": ex.chosen, "rejected": ex.rejected}

    KTO rows (``fmt == "kto"``) carry ``label``: True when the final assistant answer is
    one to imitate, False when it is one to avoid; ``messages`` is the whole conversation,
    so TRL's unpaired row is ``{"prompt": ex.prompt_messages(), "completion":
    ex.completion_messages(), "label": ex.label}``. Both fields are None for other formats.
    """

    line: int
    messages: list[dict[str, Any]]
    weight: float | None = None
    fmt: str = ""
    chosen: list[dict[str, Any]] | None = None
    rejected: list[dict[str, Any]] | None = None
    label: bool | None = None
    # The row's tool schemas (OpenAI ``tools``: ``[{"type": "function", "function": ...}]``),
    # passed to the chat template with the messages.
    tools: list[dict[str, Any]] | None = None

    def _last_assistant(self) -> int:
        for i in range(len(self.messages) - 1, -1, -1):
            if self.messages[i]["role"] == "assistant":
                return i
        return -1

    def prompt_messages(self) -> list[dict[str, Any]]:
        """Everything before the final assistant turn (empty for plain text); for a
        preference pair, the prompt both sides share."""
        if self.chosen is not None:
            return list(self.messages[:len(self.messages) - len(self.chosen)])
        i = self._last_assistant()
        return list(self.messages[:i]) if i >= 0 else list(self.messages)

    def completion_messages(self) -> list[dict[str, Any]]:
        """``[final assistant message]``: what the model learns to answer (for a
        preference pair, the chosen side)."""
        if self.chosen is not None:
            return list(self.chosen)
        i = self._last_assistant()
        return [self.messages[i]] if i >= 0 else []

    def input_text(self) -> str:
        """The user's text in the prompt (turns joined by a blank line)."""
        return "\n\n".join(m["content"] for m in self.prompt_messages() if m["role"] == "user")

    def output_text(self) -> str:
        """The final assistant answer's text."""
        done = self.completion_messages()
        return "\n".join(m["content"] for m in done if m["role"] == "assistant") if done else ""

    def to_dict(self) -> dict[str, Any]:
        """The row as written to a JSONL copy: ``{"messages"}`` for supervised rows, TRL's
        ``{"prompt", "chosen", "rejected"}`` for pairs, ``{"messages", "label"}`` for KTO."""
        if self.chosen is not None:
            return {"prompt": self.prompt_messages(), "chosen": self.chosen,
                    "rejected": self.rejected}
        row: dict[str, Any] = {"messages": self.messages}
        if self.weight is not None:
            row["weight"] = self.weight
        if self.label is not None:
            row["label"] = self.label
        if self.tools is not None:
            row["tools"] = self.tools
        return row


@dataclass
class LoadResult:
    """What ``load_examples`` found: the file's format, valid examples, and every problem."""

    path: str
    format: str | None
    examples: list[Example] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.examples) and not self.errors

"""Column names other projects use for the same fields, read as ft-tui's own names.

Each alias applies only when the row has none of the names it would fill, so a file in
one of the standard layouts is never reinterpreted. Listed in the README's format table.

Also here: advice for a row that matches no layout (which of its keys to rename to what),
and Open Assistant message trees flattened into one thread.
"""

from __future__ import annotations

from typing import Any

# (keys the row must have, {alias: standard name}, whose convention it is)
ALIASES: tuple[tuple[frozenset, dict[str, str], str], ...] = (
    (frozenset({"question", "response_j", "response_k"}),
     {"question": "prompt", "response_j": "chosen", "response_k": "rejected"},
     "stack-exchange-paired"),
    (frozenset({"instruction", "response"}), {"response": "output", "context": "input"},
     "Dolly"),
    (frozenset({"instruction", "answer"}), {"answer": "output", "context": "input"}, ""),
    (frozenset({"question", "answer"}),
     {"question": "instruction", "answer": "output", "context": "input"}, ""),
    (frozenset({"question", "response"}),
     {"question": "instruction", "response": "output", "context": "input"}, ""),
    (frozenset({"prompt", "response"}), {"response": "completion"}, ""),
    (frozenset({"query", "response"}), {"query": "prompt", "response": "completion"}, ""),
    (frozenset({"input", "response"}), {"input": "prompt", "response": "completion"}, ""),
)
_ALIAS_KEYS = frozenset(k for needs, _, _ in ALIASES for k in needs)
_STANDARD = ("messages", "conversations", "output", "completion", "chosen", "rejected", "text")


def resolve_aliases(row: Any) -> tuple[Any, str | None]:
    """``(row with standard names, "response → output, …" or None)``."""
    if not isinstance(row, dict) or not _ALIAS_KEYS.intersection(row):
        return row, None
    if any(key in row for key in _STANDARD):
        return row, None
    for needs, renames, _who in ALIASES:
        if needs <= row.keys():
            out = {renames.get(k, k): v for k, v in row.items()}
            used = ", ".join(f"{a!r} as {b!r}" for a, b in renames.items() if a in row)
            return out, used
    return row, None


def alias_table() -> list[tuple[str, str, str]]:
    """``(columns, read as, convention)`` rows for docs and messages."""
    return [(" + ".join(sorted(needs)), ", ".join(f"{a} → {b}" for a, b in renames.items()),
             who) for needs, renames, who in ALIASES]


# ----- rows that match nothing ------------------------------------------------------------

_PROMPT_WORDS = ("prompt", "question", "query", "input", "instruction", "user", "human",
                 "request", "source", "src", "q")
_ANSWER_WORDS = ("completion", "answer", "response", "output", "reply", "assistant", "gpt",
                 "target", "tgt", "label", "a", "bot")


def rename_advice(row: dict) -> str:
    """What to rename, guessed from the key names: ``rename 'q' to 'prompt' and 'a' to
    'completion'``, or the general rule when nothing looks like a question or an answer."""
    prompt = _guess(row, _PROMPT_WORDS)
    answer = _guess(row, _ANSWER_WORDS, exclude=prompt)
    if prompt and answer:
        return (f"rename {prompt!r} to 'prompt' and {answer!r} to 'completion' (or to "
                "'instruction'/'output')")
    return ("rename the field holding the question to 'prompt' and the one holding the "
            "answer to 'completion', or put the conversation in 'messages'")


def _guess(row: dict, words: tuple[str, ...], exclude: str | None = None) -> str | None:
    strings = [k for k, v in row.items() if isinstance(k, str) and isinstance(v, str) and k != exclude]
    for word in words:
        for key in strings:
            if key.lower() == word:
                return key
    for word in words:
        if len(word) > 2:
            for key in strings:
                if word in key.lower():
                    return key
    return None


# ----- Open Assistant ---------------------------------------------------------------------

OASST_ROLES = {"prompter": "user", "assistant": "assistant"}


def is_oasst_tree(row: Any) -> bool:
    """oasst's ``*.trees.jsonl``: ``{"message_tree_id", "prompt": {"text", "role",
    "replies": [...]}}``."""
    return (isinstance(row, dict) and isinstance(row.get("prompt"), dict)
            and "replies" in row["prompt"] and "text" in row["prompt"])


def is_oasst_message(row: Any) -> bool:
    """oasst's message table (``*.messages.jsonl``, the Hub's oasst1/oasst2): one message a
    row, threads linked by ``parent_id``."""
    return (isinstance(row, dict) and "parent_id" in row and "message_id" in row
            and row.get("role") in OASST_ROLES)


OASST_MESSAGE_ADVICE = (
    "this is Open Assistant's message table: one message per row, linked into threads by "
    "'parent_id', so no row is a conversation on its own. Use its trees file "
    "(*.trees.jsonl, which ft-tui reads) or a thread export such as "
    "timdettmers/openassistant-guanaco, or join each thread into {\"messages\": [...]}")


def oasst_thread(row: dict) -> dict:
    """The tree's best thread as ``{"messages": [...]}``: from the prompt, the reply ranked
    first (oasst's ``rank`` 0, else the first) at every turn, down to a leaf."""
    messages = []
    node: Any = row["prompt"]
    while isinstance(node, dict):
        role = OASST_ROLES.get(node.get("role"), node.get("role"))
        messages.append({"role": role, "content": node.get("text")})
        replies = [r for r in node.get("replies") or () if isinstance(r, dict)]
        node = min(replies, key=lambda r: (r.get("rank") is None, r.get("rank") or 0),
                   default=None)
    while len(messages) > 1 and messages[-1]["role"] == "user":
        messages.pop()   # a last question nobody answered is nothing to learn
    return {"messages": messages}

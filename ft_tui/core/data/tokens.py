"""Token lengths of examples, as the model will see them: rendered through the tokenizer's
chat template, then counted by the fast (Rust) tokenizer in batches."""

from __future__ import annotations

from typing import Any

BATCH_SIZE = 1024


class TokenCounter:
    """Feed examples with ``add``; read ``lengths``/``lines`` and ``stats()`` at the end.

    Works with any Hugging Face tokenizer. A conversation the chat template cannot render
    (a template that rejects a role, say) is counted as plain ``role: content`` text, so
    one odd example never stops the report.
    """

    def __init__(self, tokenizer: Any, max_length: int, batch_size: int = BATCH_SIZE):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.lengths: list[int] = []
        self.lines: list[int] = []
        self.template_failures = 0
        self._pending: list[tuple[int, list[dict[str, Any]]]] = []
        self._has_template = bool(getattr(tokenizer, "chat_template", None))
        # The Rust tokenizer counts ids without building Python BatchEncodings.
        backend = getattr(tokenizer, "_tokenizer", None)
        self._encode_fast = getattr(backend, "encode_batch_fast", None) or getattr(
            backend, "encode_batch", None)

    def add(self, line: int, messages: list[dict[str, Any]]) -> None:
        self._pending.append((line, messages))
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        texts = self._render([m for _, m in batch])
        self.lengths.extend(self._count(texts))
        self.lines.extend(line for line, _ in batch)

    def _render(self, conversations: list[list[dict[str, Any]]]) -> list[str]:
        if not self._has_template:
            return [_plain(c) for c in conversations]
        try:
            return list(self.tokenizer.apply_chat_template(conversations, tokenize=False))
        except Exception:  # noqa: BLE001 - jinja raises anything; retry one by one below
            texts = []
            for conversation in conversations:
                try:
                    texts.append(self.tokenizer.apply_chat_template(conversation, tokenize=False))
                except Exception:  # noqa: BLE001 - count this one as plain text instead
                    self.template_failures += 1
                    texts.append(_plain(conversation))
            return texts

    def _count(self, texts: list[str]) -> list[int]:
        if self._encode_fast is not None:
            return [len(enc.ids) for enc in self._encode_fast(texts, add_special_tokens=False)]
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def too_long_lines(self) -> list[int]:
        return [line for line, n in zip(self.lines, self.lengths) if n > self.max_length]

    def stats(self) -> dict[str, Any]:
        """``{min, median, p95, max, n_too_long, max_length}``; None values when empty."""
        ordered = sorted(self.lengths)
        n = len(ordered)
        return {
            "min": ordered[0] if n else None,
            "median": _percentile(ordered, 50),
            "p95": _percentile(ordered, 95),
            "max": ordered[-1] if n else None,
            "n_too_long": sum(1 for x in ordered if x > self.max_length),
            "max_length": self.max_length,
        }


def _percentile(ordered: list[int], pct: float) -> int | None:
    """Nearest-rank percentile: always a length some example really has."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without floats
    return ordered[int(rank) - 1]


def _plain(conversation: list[dict[str, Any]]) -> str:
    return "\n".join(f"{m['role']}: {m.get('content') or ''}" for m in conversation)

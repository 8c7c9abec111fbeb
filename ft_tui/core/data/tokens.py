"""Token lengths of examples, as the model will see them: rendered through the tokenizer's
chat template, then counted by the fast (Rust) tokenizer in batches.

Two things keep this quick on big files:
- the chat template is rendered through its compiled Jinja template directly, skipping
  the defensive deep copy ``apply_chat_template`` makes per call; the first batch is
  rendered both ways and the shortcut is used only if the texts are identical;
- counting runs in one background thread (the Rust tokenizer releases the GIL), so it
  overlaps with parsing, checking and rendering the next batch;
- a text longer than ``char_bound`` (max_length times the most characters one token of the
  vocabulary covers, plus a margin; at least ``MIN_CHAR_BOUND``) has more than max_length
  tokens whatever it says, so only that much of it is tokenised: a 50 MB line is reported
  too long, with its line, at the cost of a short one (its length is then a lower bound:
  ``stats()["n_cut"]``).
"""

from __future__ import annotations

from array import array
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

BATCH_SIZE = 1024
# Tokens a boundary may move when the text before a span is tokenised alone (a merge
# across it); within this of max_length the whole mask decides.
BOUNDARY_MARGIN = 2
MAX_BATCHES_IN_FLIGHT = 2  # bounds the memory held by rendered-but-uncounted texts
VERIFY_SAMPLE = 32
FALLBACK_TOKEN_CHARS = 64   # when the vocabulary cannot be read
# Texts up to this many characters are always counted whole (exact lengths for any ordinary
# example; a tokenizer takes milliseconds for this much).
MIN_CHAR_BOUND = 100_000


class TokenCounter:
    """Feed examples with ``add``, call ``finish()``, then read ``lengths``/``lines``/``stats()``.

    Works with any Hugging Face tokenizer. A conversation the chat template cannot render
    (a template that rejects a role, say) is counted as plain ``role: content`` text, so
    one odd example never stops the report. Use it as a context manager, or call
    ``finish()``, so the worker thread always ends.
    """

    def __init__(self, tokenizer: Any, max_length: int, batch_size: int = BATCH_SIZE,
                 train_on: str = "all_assistant"):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.train_on = train_on
        # 8 bytes a row (array), not a list of int objects; a multi-file set's lines carry
        # their file (FileLine), so they switch to a list
        self.lengths = array("q")
        self.lines: array | list = array("q")
        # Examples left with no trained token once cut to max_length (the answer starts later)
        self.untrained_lines: list[int] = []
        self.cut_lines: list[int] = []   # counted on their first char_bound characters only
        self.char_bound = char_bound(tokenizer, max_length)
        self.template_failures = 0
        self._pending: list[tuple[int, Any]] = []
        self._conversations: list[tuple[list[dict[str, Any]], list | None]] = []
        self._in_flight: deque[tuple[list[int], list, list[str], Future]] = deque()
        self._has_template = bool(getattr(tokenizer, "chat_template", None))
        self._fast_render: Callable | None = None
        self._verified = False
        backend = getattr(tokenizer, "_tokenizer", None)  # the Rust tokenizer, when fast
        self._encode_fast = getattr(backend, "encode_batch_fast", None) or getattr(
            backend, "encode_batch", None)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ft-tui-tokens")

    def __enter__(self) -> "TokenCounter":
        return self

    def __exit__(self, *exc) -> None:
        self.finish()

    def add(self, line: int, messages: list[dict[str, Any]], tools: list | None = None) -> None:
        """Count one conversation; with tool schemas or calls it is rendered the way
        training renders it (``masks.template_text``), schemas included."""
        self._conversations.append((messages, tools))
        if tools or any("tool_calls" in m for m in messages):
            from ft_tui.core.data.masks import template_text

            try:
                self._pending.append((line, template_text(self.tokenizer, messages, tools)))
            except Exception:  # noqa: BLE001 - counted as plain text, like any template failure
                self.template_failures += 1
                self._pending.append((line, _plain(messages) + "\n" + str(tools or "")))
        else:
            self._pending.append((line, messages))
        if len(self._pending) >= self.batch_size:
            self._submit()

    def finish(self) -> None:
        """Count what is left and wait for the worker; safe to call twice."""
        try:
            self._submit()
            while self._in_flight:
                self._collect_oldest()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        conversations, self._conversations = self._conversations, []
        items = [m for _, m in batch]
        todo = [i for i, m in enumerate(items) if not isinstance(m, str)]  # str: rendered already
        texts = list(items)
        for i, text in zip(todo, self._render([items[i] for i in todo]) if todo else []):
            texts[i] = text
        self._in_flight.append(([line for line, _ in batch], conversations, texts,
                                self._pool.submit(self._count, texts)))
        while len(self._in_flight) > MAX_BATCHES_IN_FLIGHT:
            self._collect_oldest()

    def _collect_oldest(self) -> None:
        lines, conversations, texts, future = self._in_flight.popleft()
        lengths = future.result()
        self.lengths.extend(lengths)
        if isinstance(self.lines, array) and any(hasattr(x, "source") for x in lines[:1]):
            self.lines = list(self.lines)
        self.lines.extend(lines)
        self.cut_lines.extend(line for line, text in zip(lines, texts) if len(text) > self.char_bound)
        long = [(line, n, text, messages, tools) for line, n, text, (messages, tools)
                in zip(lines, lengths, texts, conversations) if n > self.max_length]
        if long and self._has_template:   # no template, no masks: nothing to say
            self.untrained_lines.extend(self._untrained(long))

    def _untrained(self, long: list[tuple]) -> list[int]:
        """The lines of these too-long examples with no trained token left after the cut,
        by the masks training uses. Cheap test first: only the first trained token matters,
        and it comes right after the rendered text before the first trained message, so that
        text is measured (in bytes, which bound its tokens, then in tokens, from whichever
        side of it is shorter, all of a batch in one call); the whole mask is built only when the answer starts within a token or two
        of the cut, or for tools or a template that is not prefix-stable."""
        from ft_tui.core.data.masks import first_trained_prefix

        limit, margin = self.max_length, BOUNDARY_MARGIN
        out, measure, full = [], [], []
        for line, n_tokens, text, messages, tools in long:
            before = None
            if not tools and not any("tool_calls" in m for m in messages):
                try:
                    before = first_trained_prefix(self.tokenizer, messages, self.train_on)
                except Exception:  # noqa: BLE001 - the full mask decides
                    before = None
            cut = len(text) > self.char_bound   # n_tokens is a lower bound: count ``before``
            if before is None or not text.startswith(before):
                full.append((line, bounded_messages(messages, self.char_bound) if cut else messages, tools))
            elif cut and len(before.encode("utf-8")) + margin >= limit:
                measure.append((line, messages, before, None))
            elif len(before.encode("utf-8")) + margin >= limit:
                # count the shorter side of the boundary: the tokens before it are the
                # whole count less those after it (a merge across it is within the margin)
                rest = text[len(before):]
                if len(rest) < len(before):
                    measure.append((line, messages, rest, n_tokens))
                else:
                    measure.append((line, messages, before, None))
            # else: a token is at least one byte, so the answer starts inside the limit
        counted = self._count([part for _, _, part, _ in measure]) if measure else []
        for (line, messages, _, whole), m in zip(measure, counted):
            n = m if whole is None else whole - m
            if n > limit + margin:
                out.append(line)
            elif n + margin >= limit:
                full.append((line, messages, None))
        for line, messages, tools in full:
            if not self._trained_within(messages, tools):
                out.append(line)
        rank = {line: i for i, (line, *_) in enumerate(long)}
        return sorted(out, key=rank.__getitem__)   # file order

    def _trained_within(self, messages, tools) -> bool:
        """Whether a trained token is left after the cut, by the whole mask."""
        from ft_tui.core.data.masks import build_mask, trained_within

        try:
            masked = build_mask(self.tokenizer, messages, tools, self.train_on)
        except Exception:  # noqa: BLE001 - a template failure is counted elsewhere
            return True
        return trained_within(masked.labels, self.max_length)

    # ----- rendering --------------------------------------------------------------------

    def _render(self, conversations: list[list[dict[str, Any]]]) -> list[str]:
        if not self._has_template:
            return [_plain(c) for c in conversations]
        if not self._verified:  # first batch: the public path, and a check of the shortcut
            self._verified = True
            texts = self._slow(conversations)
            fast = _direct_renderer(self.tokenizer)
            if fast is not None:
                try:
                    same = [fast(c) for c in conversations[:VERIFY_SAMPLE]] == texts[:VERIFY_SAMPLE]
                except Exception:  # noqa: BLE001 - any failure: keep the public path
                    same = False
                self._fast_render = fast if same else None
            return texts
        return self._fast(conversations) if self._fast_render else self._slow(conversations)

    def _fast(self, conversations: list[list[dict[str, Any]]]) -> list[str]:
        render = self._fast_render
        try:
            return [render(c) for c in conversations]  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - jinja raises anything; the slow path sorts it out
            return self._slow(conversations)

    def _slow(self, conversations: list[list[dict[str, Any]]]) -> list[str]:
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
        """Tokens in each text; a text over ``char_bound`` characters is counted on that
        much of it, which is more than max_length (and the margin) tokens: a lower bound.
        Should a tokenizer pack more characters in a token than its vocabulary showed, the
        whole text is counted instead."""
        bound = self.char_bound
        counts = self._encode([t[:bound] for t in texts])
        for i, (text, n) in enumerate(zip(texts, counts)):
            if len(text) > bound and n <= self.max_length + BOUNDARY_MARGIN:
                counts[i] = self._encode([text])[0]
        return counts

    def _encode(self, texts: list[str]) -> list[int]:
        if self._encode_fast is not None:
            return [len(enc.ids) for enc in self._encode_fast(texts, add_special_tokens=False)]
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    # ----- results ----------------------------------------------------------------------

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
            **({"n_cut": len(self.cut_lines)} if self.cut_lines else {}),
        }


def longest_token_chars(tokenizer: Any) -> int:
    """The most characters one vocabulary entry spells (byte-level vocabularies spell a
    byte as one character, and a character is at least one byte), so a text of ``c``
    characters has at least ``c / longest`` tokens."""
    try:
        return max(map(len, tokenizer.get_vocab()))
    except Exception:  # noqa: BLE001 - no readable vocabulary: a generous guess; _count checks it
        return FALLBACK_TOKEN_CHARS


def char_bound(tokenizer: Any, max_length: int) -> int:
    """Characters past which a text has more than ``max_length`` tokens (plus a margin
    for merges across a cut) whatever it holds: the most characters one vocabulary entry
    spells, times the tokens; never below MIN_CHAR_BOUND."""
    return max(MIN_CHAR_BOUND, (max_length + BOUNDARY_MARGIN + 1) * longest_token_chars(tokenizer))


def bounded_messages(messages: list[dict[str, Any]], bound: int) -> list[dict[str, Any]]:
    """The messages with each content cut to ``bound`` characters (``char_bound``): a cut
    message alone has more than max_length tokens, so the first max_length tokens of the
    conversation, and which of them are trained, are the same, and tokenising it costs
    what a short example's does."""
    return [{**m, "content": m["content"][:bound]} if isinstance(m.get("content"), str)
            and len(m["content"]) > bound else m for m in messages]


def _direct_renderer(tokenizer: Any) -> Callable | None:
    """``conversation -> text`` through the compiled (sandboxed) template, with the same
    variables ``apply_chat_template`` passes; None if this transformers lacks the pieces."""
    try:
        from transformers.utils.chat_template_utils import _compile_jinja_template

        template = _compile_jinja_template(tokenizer.get_chat_template())
        variables = dict(tokenizer.special_tokens_map)
    except Exception:  # noqa: BLE001 - private API moved or template broken: use the public path
        return None

    def render(conversation: list[dict[str, Any]]) -> str:
        return template.render(messages=conversation, tools=None, documents=None,
                               add_generation_prompt=False, **variables)

    return render


def _percentile(ordered: list[int], pct: float) -> int | None:
    """Nearest-rank percentile: always a length some example really has."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without floats
    return ordered[int(rank) - 1]


def _plain(conversation: list[dict[str, Any]]) -> str:
    return "\n".join(f"{m['role']}: {m.get('content') or ''}" for m in conversation)

"""Which tokens of a conversation the model is trained on.

The conversation is rendered with the tokenizer's own chat template, turn by turn: the
text before assistant message *i* (rendered with the generation prompt, so the
``<|im_start|>assistant`` header is context) and the text through message *i* mark the
span the loss covers. This works for any template, with or without ``{% generation %}``
markers (which TRL's ``assistant_only_loss`` needs and most templates lack).

Each span is verified against the full render, token-exact: the prefix up to each span
boundary must tokenise to exactly the leading tokens of the whole conversation. A
template that renders earlier turns differently once the conversation goes on (one that
drops past reasoning, say) is not prefix-stable; ``build_mask`` then trains the last
assistant turn only, the way TRL's prompt/completion split does, and says so in
``MaskedExample.fallback``.

Trained: assistant messages (their text, tool calls and the end-of-turn token the
template writes), except those with ``weight`` 0 (OpenAI's per-message weight: context,
not a target). Never trained: system, user and tool messages, tool schemas, and what the
template writes on its own before the first message (a default system prompt such as
SmolLM2's or Qwen's, a role header), even when the conversation opens with the answer.

Tools: when the template renders tool calls and schemas itself (``tools=`` and
``tool_calls``), it does. A template that ignores them (SmolLM2's, say) would train an
empty assistant turn, so then the calls are written into the assistant text as
``<tool_call>{"name", "arguments"}</tool_call>`` and the schemas into the system message
(the Hermes convention Qwen's templates use); ``MaskedExample.inline_tools`` says so.

Nothing here imports torch or transformers; the tokenizer is passed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

TRAIN_ON = ("all_assistant", "last_assistant")
NOT_PREFIX_STABLE = ("the chat template renders earlier turns differently once the "
                     "conversation continues (not prefix-stable), so only the last assistant "
                     "turn is trained")


@dataclass
class MaskedExample:
    """One conversation as the model sees it: the rendered ``text``, its ``input_ids``,
    and ``labels`` (the token id where trained, -100 where not)."""

    text: str
    input_ids: list[int]
    labels: list[int]
    spans: list[tuple[int, int]] = field(default_factory=list)  # trained character ranges
    fallback: str = ""   # why fewer turns than asked are trained, when that happened
    inline_tools: bool = False  # tool calls/schemas written as text (template ignores them)

    @property
    def n_trained(self) -> int:
        return sum(1 for x in self.labels if x != -100)

    def segments(self) -> list[dict[str, Any]]:
        """``[{"text", "trained"}]`` covering ``text`` in order (the ``--show-mask`` view)."""
        out: list[dict[str, Any]] = []
        at = 0
        for start, end in self.spans:
            if start > at:
                out.append({"text": self.text[at:start], "trained": False})
            out.append({"text": self.text[start:end], "trained": True})
            at = end
        if at < len(self.text):
            out.append({"text": self.text[at:], "trained": False})
        return out


class TemplateError(ValueError):
    """The chat template cannot render this conversation at all."""


def clean_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as the chat template gets them: no ``weight`` (it is ours, not the template's)."""
    return [{k: v for k, v in m.items() if k != "weight"} for m in messages]


def targets(messages: list[dict[str, Any]], train_on: str = "all_assistant") -> list[int]:
    """Indexes of the messages the loss covers."""
    assistants = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if train_on == "last_assistant":
        assistants = assistants[-1:]
    return [i for i in assistants if messages[i].get("weight", 1) != 0]


def trained_within(labels: list[int], max_length: int | None) -> bool:
    """Whether a token the loss covers survives truncation to ``max_length`` tokens (the
    trainer keeps the start; None: no truncation). False: the example adds no loss."""
    head = labels if max_length is None else labels[:max_length]
    return any(x != -100 for x in head)


def build_mask(tokenizer: Any, messages: list[dict[str, Any]], tools: list | None = None,
               train_on: str = "all_assistant") -> MaskedExample:
    """Render ``messages`` (and ``tools``) and mark the trained tokens; see the module doc.
    Raises TemplateError when the template cannot render the conversation."""
    plain = clean_messages(messages)
    inline = False
    if (tools or any("tool_calls" in m for m in plain)) and not renders_tools(tokenizer):
        plain, tools, inline = inline_tool_text(plain, tools), None, True
    masked = _build(tokenizer, messages, plain, tools, train_on)
    masked.inline_tools = inline
    return masked


def template_text(tokenizer: Any, messages: list[dict[str, Any]], tools: list | None = None) -> str:
    """The whole conversation as training renders it (tool schemas and calls included)."""
    plain = clean_messages(messages)
    if (tools or any("tool_calls" in m for m in plain)) and not renders_tools(tokenizer):
        plain, tools = inline_tool_text(plain, tools), None
    return _render(tokenizer, plain, tools, False)


def first_trained_prefix(tokenizer: Any, messages: list[dict[str, Any]],
                         train_on: str = "all_assistant") -> str | None:
    """The rendered text before the first trained message, as ``build_mask`` renders it
    (a cheap stand-in for the whole mask when only the first trained token matters); None
    when no message is trained. Conversations without tools only."""
    wanted = targets(messages, train_on)
    if not wanted:
        return None
    plain = clean_messages(messages)
    i = wanted[0]
    if i:
        return _render(tokenizer, plain[:i], None, True)
    return _opening(tokenizer, plain[0], None, _render(tokenizer, plain[:1], None, False))


_RENDERS_TOOLS: dict[int, bool] = {}
_PROBE = "ft_tui_probe_tool"


def renders_tools(tokenizer: Any) -> bool:
    """Whether the chat template writes both a tool schema and a tool call into its text."""
    key = id(tokenizer)
    if key not in _RENDERS_TOOLS:
        probe = [{"role": "user", "content": "x"},
                 {"role": "assistant", "content": "", "tool_calls": [
                     {"type": "function", "function": {"name": _PROBE + "_call", "arguments": {}}}]}]
        schema = [{"type": "function", "function": {"name": _PROBE + "_schema",
                                                    "parameters": {"type": "object", "properties": {}}}}]
        try:
            text = tokenizer.apply_chat_template(probe, tools=schema, tokenize=False)
            _RENDERS_TOOLS[key] = _PROBE + "_call" in text and _PROBE + "_schema" in text
        except Exception:  # noqa: BLE001 - a template that chokes on tools does not render them
            _RENDERS_TOOLS[key] = False
    return _RENDERS_TOOLS[key]


def inline_tool_text(messages: list[dict[str, Any]], tools: list | None) -> list[dict[str, Any]]:
    """Tool calls into the assistant text and schemas into the system message, as text."""
    out = []
    for m in messages:
        m = dict(m)
        calls = m.pop("tool_calls", None)
        if calls:
            text = "\n".join("<tool_call>\n" + json.dumps(
                {"name": c["function"]["name"], "arguments": c["function"].get("arguments", {})},
                ensure_ascii=False) + "\n</tool_call>" for c in calls)
            m["content"] = f"{m['content']}\n{text}" if m.get("content") else text
        out.append(m)
    if tools:
        schema = ("You can call these tools:\n<tools>\n"
                  + "\n".join(json.dumps(t, ensure_ascii=False) for t in tools) + "\n</tools>")
        if out and out[0]["role"] == "system":
            out[0] = {**out[0], "content": f"{out[0]['content']}\n\n{schema}"}
        else:
            out.insert(0, {"role": "system", "content": schema})
    return out


def _build(tokenizer, messages, plain, tools, train_on) -> MaskedExample:
    if len(plain) != len(messages):  # a system message was added for the tool schemas
        messages = [{"role": "system"}, *messages]
    full = _render(tokenizer, plain, tools, False)
    ids = _encode(tokenizer, full)
    wanted = targets(messages, train_on)
    try:
        spans = [_span(tokenizer, plain, tools, i, full) for i in wanted]
        return _masked(tokenizer, full, ids, spans)
    except _Unstable:
        pass
    # Not prefix-stable: the last assistant turn only, as prompt + completion.
    last = targets(messages, "last_assistant")
    spans = []
    if last:
        before = (_render(tokenizer, plain[:last[0]], tools, True) if last[0] else
                  _opening(tokenizer, plain[0], tools, _render(tokenizer, plain[:1], tools, False)))
        n = _common_prefix(_encode(tokenizer, before), ids) if before else 0
        if plain[last[0]:last[0] + 1] == plain[-1:]:
            spans = [(len(tokenizer.decode(ids[:n])), len(full))]
            labels = [-100] * n + ids[n:]
            return MaskedExample(full, ids, labels, _fit(spans, full), NOT_PREFIX_STABLE)
    return MaskedExample(full, ids, [-100] * len(ids), [], NOT_PREFIX_STABLE)


class _Unstable(Exception):
    pass


_SENTINEL = "\x00ft-tui-content\x00"


def _opening(tokenizer, first: dict[str, Any], tools, rendered: str) -> str:
    """What a template writes before the first message's text: its own default system
    prompt (SmolLM2's "You are a helpful AI assistant named SmolLM…", Qwen's "You are
    Qwen…"), a BOS token, the role header. Context, never trained: found by rendering the
    message with a marker for its content; "" when the template does not render it so."""
    try:
        probe = _render(tokenizer, [{**first, "content": _SENTINEL}], tools, False)
    except TemplateError:
        return ""
    at = probe.find(_SENTINEL)
    if at <= 0 or not rendered.startswith(probe[:at]):
        return ""
    return probe[:at]


def _span(tokenizer, plain, tools, i: int, full: str) -> tuple[int, int]:
    after = _render(tokenizer, plain[:i + 1], tools, False)
    before = _render(tokenizer, plain[:i], tools, True) if i else _opening(tokenizer, plain[0], tools, after)
    if not (full.startswith(after) and after.startswith(before)):
        if i and not after.startswith(before):
            # templates without a generation prompt: the header is rendered with the turn
            before = _render(tokenizer, plain[:i], tools, False)
        if not (full.startswith(after) and after.startswith(before)):
            raise _Unstable
    return len(before), len(after)


def _masked(tokenizer, full: str, ids: list[int], spans) -> MaskedExample:
    labels = [-100] * len(ids)
    for start, end in spans:
        a = _boundary(tokenizer, full, ids, start)
        b = _boundary(tokenizer, full, ids, end)
        labels[a:b] = ids[a:b]
    return MaskedExample(full, ids, labels, [s for s in spans if s[1] > s[0]])


def _boundary(tokenizer, full: str, ids: list[int], at: int) -> int:
    """The token count of ``full[:at]``, verified to be a prefix of ``ids`` (token-exact)."""
    if at == 0:
        return 0
    if at == len(full):
        return len(ids)
    head = _encode(tokenizer, full[:at])
    if ids[:len(head)] != head:
        raise _Unstable
    return len(head)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _fit(spans, full):
    return [(max(0, min(s, len(full))), len(full)) for s, _ in spans]


def _render(tokenizer, messages, tools, generation_prompt: bool) -> str:
    try:
        return tokenizer.apply_chat_template(messages, tools=tools or None, tokenize=False,
                                             add_generation_prompt=generation_prompt)
    except Exception as exc:  # noqa: BLE001 - jinja raises anything
        raise TemplateError(f"the chat template cannot render this conversation: {exc}") from None


def _encode(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])

"""Text that already holds a chat template's markup, split back into turns.

Many public data sets ship conversations pre-rendered as one string. Wrapping such a
string in the model's own chat template would train a second template, prompt included,
so the conventions below are recognised and turned into messages:

- Llama 2 chat: ``<s>[INST] <<SYS>>…<</SYS>> question [/INST] answer </s>`` (e.g.
  mlabonne/guanaco-llama2-1k);
- ChatML: ``<|im_start|>user\\n…<|im_end|>`` (Qwen, OpenHermes);
- ``### Human: … ### Assistant: …`` (timdettmers/openassistant-guanaco);
- Anthropic HH-RLHF: ``\\n\\nHuman: …\\n\\nAssistant: …`` (Anthropic/hh-rlhf);
- the Alpaca prompt: ``### Instruction:`` / ``### Input:`` / ``### Response:``; the
  preamble before it ("Below is an instruction…") becomes the system message.

``markup_turns`` returns None for text without any of them, so plain text costs a few
substring tests. Text that holds a convention's markers but cannot be split cleanly raises
``RowError("chat_markup")`` naming what was found: never a second template silently.
"""

from __future__ import annotations

import re
from typing import Any

from ft_tui.core.data.types import RowError

_CHATML = re.compile(r"<\|im_start\|>\s*(\w+)\s*\n?(.*?)(?:<\|im_end\|>|(?=<\|im_start\|>)|\Z)", re.S)
_INST = re.compile(r"\[INST\](.*?)\[/INST\](.*?)(?=(?:<s>)?\s*\[INST\]|\Z)", re.S)
_SYS = re.compile(r"<<SYS>>(.*?)<</SYS>>", re.S)
_GUANACO = re.compile(r"###\s*(Human|Assistant)\s*:", re.S)
_HH = re.compile(r"(?:\A\s*|\n\n)(Human|Assistant)\s*:", re.S)
_ALPACA = re.compile(r"###\s*(Instruction|Input|Response)\s*:", re.S)
ROLES = {"human": "user", "user": "user", "assistant": "assistant", "system": "system",
         "gpt": "assistant"}
EOS_MARKS = ("</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>", "<|eot_id|>")

CHATML = "ChatML ('<|im_start|>')"
LLAMA2 = "Llama 2 ('[INST] … [/INST]')"
LLAMA3 = "Llama 3 ('<|start_header_id|>')"
GUANACO = "'### Human:' / '### Assistant:'"
ALPACA = "Alpaca ('### Instruction:' / '### Response:')"
_MARKS = (("<|im_start|>", CHATML), ("<|start_header_id|>", LLAMA3), ("[INST]", LLAMA2))

HOW_TO = ("write it as {\"messages\": [{\"role\": \"user\", ...}, {\"role\": \"assistant\", "
          "...}]} so the model's own chat template is applied once")


def markup_turns(text: str) -> list[dict[str, Any]] | None:
    """The turns in ``text`` when it is written in a known chat convention, else None."""
    if "<|im_start|>" in text:
        return _chatml(text)
    if "[INST]" in text and "[/INST]" in text:
        return _llama2(text)
    if "###" in text:
        if _GUANACO.search(text):
            return _speakers(text, _GUANACO, GUANACO)
        if _ALPACA.search(text):
            return _alpaca(text)
    if "Human:" in text and "Assistant:" in text and _HH.match(text):
        return _speakers(text, _HH, "'\\n\\nHuman:' / '\\n\\nAssistant:' (Anthropic HH)")
    return None


def markup_in_message(text: str) -> str | None:
    """The convention whose markup one message's content holds (its turns are already
    split, so the markup would be trained as words inside the model's own template), or
    None. A few substring tests for ordinary text."""
    for mark, name in _MARKS:
        if mark in text:
            return name
    if "###" in text:
        if _GUANACO.search(text):
            return GUANACO
        if any(m.group(1) != "Input" for m in _ALPACA.finditer(text)):
            return ALPACA
    return None


def _checked(turns: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    if not any(t["role"] == "assistant" and t["content"] for t in turns):
        raise RowError("chat_markup", f"the text holds {what} chat markup but no assistant "
                                      f"answer after it; {HOW_TO}")
    empty = next((t for t in turns if not t["content"] and t["role"] != "assistant"), None)
    if empty is not None:
        raise RowError("chat_markup", f"the text holds {what} chat markup with an empty "
                                      f"{empty['role']} turn; {HOW_TO}")
    while turns and turns[-1]["role"] == "assistant" and not turns[-1]["content"]:
        turns.pop()  # a trailing empty 'Assistant:' is a generation prompt, not an answer
    return turns


def _strip_eos(text: str) -> str:
    text = text.strip()
    for mark in EOS_MARKS:
        text = text.removesuffix(mark).strip()
    return text


def _chatml(text: str) -> list[dict[str, Any]]:
    turns = []
    for match in _CHATML.finditer(text):
        role = ROLES.get(match.group(1).lower())
        if role is None:
            raise RowError("chat_markup", f"the text holds ChatML markup with a "
                                          f"{match.group(1)!r} turn, which ft-tui cannot map to "
                                          f"system/user/assistant; {HOW_TO}")
        turns.append({"role": role, "content": _strip_eos(match.group(2))})
    return _checked(turns, CHATML)


def _llama2(text: str) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for match in _INST.finditer(text):
        user, answer = match.group(1), match.group(2)
        system = _SYS.search(user)
        if system:
            turns.append({"role": "system", "content": system.group(1).strip()})
            user = user[:system.start()] + user[system.end():]
        turns.append({"role": "user", "content": _strip_eos(user)})
        answer = _strip_eos(answer.replace("<s>", "", 1) if answer.lstrip().startswith("<s>") else answer)
        turns.append({"role": "assistant", "content": answer})
    return _checked(turns, LLAMA2)


def _speakers(text: str, marker: re.Pattern, what: str) -> list[dict[str, Any]] | None:
    found = list(marker.finditer(text))
    if not found or text[:found[0].start()].strip():
        return None  # the markers are somewhere inside ordinary text
    turns = []
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        turns.append({"role": ROLES[match.group(1).lower()], "content": _strip_eos(text[match.end():end])})
    return _checked(turns, what)


def _alpaca(text: str) -> list[dict[str, Any]] | None:
    found = list(_ALPACA.finditer(text))
    names = [m.group(1).lower() for m in found]
    if "response" not in names or "instruction" not in names:
        return None
    parts: dict[str, str] = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        if names[i] in parts:
            raise RowError("chat_markup", f"the text holds the Alpaca prompt with "
                                          f"'### {match.group(1)}:' twice; {HOW_TO}")
        parts[names[i]] = _strip_eos(text[match.end():end])
    user = "\n\n".join(p for p in (parts.get("instruction", ""), parts.get("input", "")) if p)
    turns = []
    preamble = text[:found[0].start()].strip()
    if preamble:
        turns.append({"role": "system", "content": preamble})
    turns += [{"role": "user", "content": user}, {"role": "assistant", "content": parts["response"]}]
    return _checked(turns, ALPACA)

"""Recognise one row's format and turn it into conversational messages.

Every ``normalise_*`` function takes the parsed JSON value of one row and returns one
type, a dict of ``Example`` fields (``messages`` and ``weight``; ``tools``, ``chosen``/
``rejected`` or ``label`` where the row has them), or raises ``RowError(code, message)``;
messages say what is wrong and how to fix it, without the line number (the loader adds
that). Plain-text rows are read by the loader itself (``text_messages``).
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from ft_tui.core.data.markup import markup_turns
from ft_tui.core.data.types import RowError

TEXT_SEPARATOR = "###"

# ShareGPT `from` values seen in the wild, mapped to TRL roles.
SHAREGPT_ROLES = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "model": "assistant",
    "bard": "assistant", "bing": "assistant", "function_call": "assistant",
    "system": "system",
    "tool": "tool", "function": "tool", "observation": "tool", "function_response": "tool",
}
# OpenAI chat roles; `developer` is the newer name for `system`, `function` the old `tool`.
OPENAI_ROLES = {"system": "system", "developer": "system", "user": "user",
                "assistant": "assistant", "tool": "tool", "function": "tool"}


# KTO's desirable/undesirable flag: TRL's `label`, or LLaMA-Factory's `kto_tag` (whose
# spreadsheet copies carry it as the text "true"/"false").
KTO_LABEL_KEYS = ("label", "kto_tag")
KTO_ANSWER_KEYS = ("messages", "conversations", "completion", "output")


def kto_label(row: dict) -> bool | None:
    """The row's KTO flag, or None when it has none (a text `label` is a class, not a flag)."""
    for key in KTO_LABEL_KEYS:
        value = row.get(key)
        if isinstance(value, bool):
            return value
        if key == "kto_tag" and isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
    return None


def detect_format(row: Any) -> str | None:
    """The format a parsed JSON row is written in, or None when it matches none."""
    if not isinstance(row, dict):
        return None
    if any(key in row for key in ("chosen", "rejected", "chosen_messages", "rejected_messages")):
        return "preference"
    if kto_label(row) is not None and any(key in row for key in KTO_ANSWER_KEYS):
        return "kto"
    if "messages" in row:
        return "openai_chat"
    if "conversations" in row:
        return "sharegpt"
    if "instruction" in row or ("output" in row and "input" in row):
        return "alpaca"
    if "prompt" in row or "completion" in row:
        return "prompt_completion"
    if "text" in row and len(row) <= 2:
        return "text"
    return None


ROW_KEYS = ("messages", "conversations", "instruction", "input", "output", "prompt", "completion",
            "text", "chosen", "rejected", "tools", "system", "label", "kto_tag")
MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name", "weight")


def misspelled(keys, known: tuple[str, ...]) -> str | None:
    """``"unknown key 'contnet'; did you mean 'content'?"`` for the first near miss."""
    for key in keys:
        if isinstance(key, str) and key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
            if close:
                return f"unknown key {key!r}; did you mean {close[0]!r}?"
    return None


def describe_keys(row: Any) -> str:
    if isinstance(row, dict):
        keys = ", ".join(repr(k) for k in list(row)[:6]) or "no keys"
        typo = misspelled(row, ROW_KEYS)
        return f"an object with {keys} ({typo})" if typo else f"an object with {keys}"
    return f"a JSON {_json_type(row)}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(value), type(value).__name__)


def _text_field(row: dict, key: str, where: str, required: bool = True) -> str:
    if key not in row or (row[key] is None and not required):
        if required:
            raise RowError("missing_field", f"{where} has no {key!r} field; add it")
        return ""
    value = row[key]
    if not isinstance(value, str):
        raise RowError("wrong_type", f"{where} field {key!r} must be a string, "
                                     f"got a {_json_type(value)}")
    return value


def _content(value: Any, where: str) -> str:
    """Message content: a string, or OpenAI content parts ``[{"type": "text", "text"}]``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):
        texts = [p.get("text") for p in value if p.get("type", "text") == "text"]
        if all(isinstance(t, str) for t in texts) and len(texts) == len(value):
            return "".join(texts)
        raise RowError("wrong_type", f"{where} content parts must all be "
                                     "{\"type\": \"text\", \"text\": \"...\"} (images are not supported)")
    raise RowError("wrong_type", f"{where} 'content' must be a string, got a {_json_type(value)}")


def _tool_calls(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise RowError("wrong_type", f"{where} 'tool_calls' must be a non-empty list")
    calls = []
    for j, call in enumerate(value):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise RowError("wrong_type", f"{where} tool_calls[{j}] needs "
                                         "{\"function\": {\"name\": ..., \"arguments\": ...}}")
        args = fn.get("arguments", {})
        if isinstance(args, str):
            try:  # chat templates expect a dict; the OpenAI API sends a JSON string
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                raise RowError("wrong_type", f"{where} tool_calls[{j}] arguments are not "
                                             "valid JSON") from None
        if not isinstance(args, dict):
            raise RowError("wrong_type", f"{where} tool_calls[{j}] arguments must be a JSON "
                                         f"object, got a {_json_type(args)}")
        out = {"type": "function", "function": {"name": fn["name"], "arguments": args}}
        if isinstance(call.get("id"), str):
            out["id"] = call["id"]
        calls.append(out)
    return calls


def _weight(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RowError("wrong_type", f"{where} 'weight' must be a number (0 or 1), "
                                     f"got a {_json_type(value)}")
    return float(value)


def _conversation_row(messages: list[dict], row: dict):
    """A parsed chat or ShareGPT row: the conversation checked, its weight and its tools."""
    _check_conversation(messages, "the conversation")
    weight = _weight(row["weight"], "the row") if "weight" in row else None
    tools = parse_tools(row["tools"]) if row.get("tools") not in (None, "", []) else None
    if tools is not None:
        check_calls_defined(messages, tools)
    return {"messages": messages, "weight": weight, "tools": tools}


def _check_conversation(messages: list[dict[str, Any]], what: str) -> None:
    if not any(m["role"] == "assistant" for m in messages):
        raise RowError("no_assistant_turn", f"{what} has no assistant turn, so there is nothing "
                                            "to learn; add the answer as an assistant message")


def normalise_openai(row: dict) -> dict[str, Any]:
    raw = row["messages"]
    if not isinstance(raw, list):
        raise RowError("wrong_type", f"'messages' must be a list, got a {_json_type(raw)}")
    if not raw:
        raise RowError("empty_content", "'messages' is empty; add user and assistant messages")
    messages = [_openai_message(m, i) for i, m in enumerate(raw)]
    return _conversation_row(messages, row)


def parse_tools(value: Any) -> list[dict[str, Any]]:
    """A row's ``tools``: a list of schemas, or that list as a JSON string (ShareGPT), each
    ``{"type": "function", "function": {"name", ...}}`` or the bare function object."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise RowError("wrong_type", f"'tools' is a string that is not valid JSON ({err.msg} "
                                         f"at character {err.pos}); it must be a JSON list of "
                                         "tool schemas") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise RowError("wrong_type", f"'tools' must be a list of tool schemas, got a {_json_type(value)}")
    tools = []
    for j, tool in enumerate(value):
        fn = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise RowError("wrong_type", f"tools[{j}] needs a 'name' (a schema like "
                                         "{\"type\": \"function\", \"function\": {\"name\": ...}})")
        tools.append({"type": "function", "function": fn})
    return tools


def _openai_message(m: Any, i: int) -> dict[str, Any]:
    where = f"messages[{i}]"
    if not isinstance(m, dict):
        raise RowError("wrong_type", f"{where} must be an object with 'role' and 'content', "
                                     f"got a {_json_type(m)}")
    typo = misspelled(m, MESSAGE_KEYS)
    if typo:
        raise RowError("unknown_key", f"{where}: {typo}")
    if "role" not in m:
        raise RowError("missing_field", f"{where} has no 'role'; use system, user, assistant or tool")
    role = OPENAI_ROLES.get(m["role"]) if isinstance(m["role"], str) else None
    if role is None:
        raise RowError("invalid_role", f"{where} role {m['role']!r} is not one of system, user, "
                                       "assistant, tool")
    out: dict[str, Any] = {"role": role}
    calls = m.get("tool_calls")
    if calls is not None and role == "assistant":
        out["tool_calls"] = _tool_calls(calls, where)
    content = m.get("content")
    if content is None and "tool_calls" in out:
        out["content"] = ""  # a pure tool call; templates still read `content`
    elif "content" not in m:
        raise RowError("missing_field", f"{where} ({role}) has no 'content'")
    elif content is None:
        raise RowError("wrong_type", f"{where} ({role}) 'content' is null; only an assistant "
                                     "message with tool_calls may have no content")
    else:
        out["content"] = _content(content, where)
        if not out["content"].strip() and "tool_calls" not in out:
            raise RowError("empty_content", f"{where} ({role}) has empty content; write the "
                                            "text or remove the message")
    if role == "tool":
        for key in ("tool_call_id", "name"):
            if isinstance(m.get(key), str):
                out[key] = m[key]
    if "weight" in m:
        out["weight"] = _weight(m["weight"], where)
    return out


def normalise_sharegpt(row: dict) -> dict[str, Any]:
    raw = row["conversations"]
    if not isinstance(raw, list):
        raise RowError("wrong_type", f"'conversations' must be a list, got a {_json_type(raw)}")
    if not raw:
        raise RowError("empty_content", "'conversations' is empty; add human and gpt turns")
    messages = []
    for i, turn in enumerate(raw):
        where = f"conversations[{i}]"
        if not isinstance(turn, dict):
            raise RowError("wrong_type", f"{where} must be an object with 'from' and 'value'")
        if "from" not in turn:
            raise RowError("missing_field", f"{where} has no 'from'; use human, gpt or system")
        who = turn["from"]
        role = SHAREGPT_ROLES.get(who.lower()) if isinstance(who, str) else None
        if role is None:
            raise RowError("invalid_role", f"{where} 'from' is {who!r}; use human, gpt or system")
        value = _text_field(turn, "value", where)
        if not value.strip():
            raise RowError("empty_content", f"{where} ({who}) has an empty 'value'")
        if who.lower() == "function_call":
            messages.append({"role": "assistant", "content": "",
                             "tool_calls": _sharegpt_call(value, where)})
        else:
            messages.append({"role": role, "content": value})
    return _conversation_row(messages, row)


def _sharegpt_call(value: str, where: str) -> list[dict[str, Any]]:
    """A ShareGPT ``function_call`` turn (LLaMA-Factory/Glaive): ``{"name", "arguments"}``
    as JSON text, or a list of them."""
    try:
        call = json.loads(value)
    except ValueError as err:
        raise RowError("wrong_type", f"{where} (function_call) value is not valid JSON ({err.msg}); "
                                     "write {\"name\": ..., \"arguments\": {...}}") from None
    calls = call if isinstance(call, list) else [call]
    return _tool_calls([{"function": c} if isinstance(c, dict) else c for c in calls], where)


def check_calls_defined(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> None:
    names = {t["function"]["name"] for t in tools}
    for i, m in enumerate(messages):
        for call in m.get("tool_calls") or ():
            name = call["function"]["name"]
            if name not in names:
                raise RowError("unknown_tool", f"message {i} calls {name!r}, which the row's "
                                               f"'tools' do not define (they define "
                                               f"{', '.join(sorted(names))}); add its schema or "
                                               "fix the name")


def normalise_alpaca(row: dict) -> dict[str, Any]:
    instruction = _text_field(row, "instruction", "the row", required="input" not in row)
    extra = _text_field(row, "input", "the row", required=False)
    output = _text_field(row, "output", "the row")
    if not instruction.strip() and not extra.strip():
        raise RowError("empty_content", "'instruction' is empty; say what the model should do")
    if not output.strip():
        raise RowError("empty_content", "'output' is empty; write the answer to learn")
    user = f"{instruction}\n\n{extra}" if instruction.strip() and extra.strip() else instruction or extra
    messages: list[dict[str, Any]] = []
    system = row.get("system")
    if isinstance(system, str) and system.strip():
        messages.append({"role": "system", "content": system})
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
    return {"messages": messages, "weight": None}


def normalise_prompt_completion(row: dict) -> dict[str, Any]:
    for key in ("prompt", "completion"):
        if key not in row:
            raise RowError("missing_field", f"the row has no {key!r} field; prompt/completion "
                                            "rows need both")
    prompt, completion = row["prompt"], row["completion"]
    if isinstance(prompt, list) or isinstance(completion, list):  # TRL conversational form
        if not (isinstance(prompt, list) and isinstance(completion, list)):
            raise RowError("wrong_type", "'prompt' and 'completion' must both be strings or "
                                         "both be lists of messages")
        messages = [_openai_message(m, i) for i, m in enumerate(prompt + completion)]
        if not completion:
            raise RowError("empty_content", "'completion' is an empty list")
        _check_conversation(messages, "the completion")
        return {"messages": messages, "weight": None}
    for key, value in (("prompt", prompt), ("completion", completion)):
        if not isinstance(value, str):
            raise RowError("wrong_type", f"{key!r} must be a string, got a {_json_type(value)}")
        if not value.strip():
            raise RowError("empty_content", f"{key!r} is empty")
    return {"messages": [{"role": "user", "content": prompt},
                         {"role": "assistant", "content": completion}], "weight": None}


def text_messages(text: str) -> list[dict[str, Any]]:
    """``input ### output`` becomes a user and an assistant turn; text without the
    separator is one assistant turn (plain language-model data, no prompt)."""
    if not text.strip():
        raise RowError("empty_content", "the text is empty")
    turns = markup_turns(text)   # already rendered chat: its turns, never a second template
    if turns is not None:
        return turns
    if TEXT_SEPARATOR in text:
        prompt, _, answer = text.partition(TEXT_SEPARATOR)
        if not prompt.strip():
            raise RowError("empty_content", f"nothing before '{TEXT_SEPARATOR}'; write the input first")
        if not answer.strip():
            raise RowError("empty_content", f"nothing after '{TEXT_SEPARATOR}'; write the output")
        return [{"role": "user", "content": prompt.strip()},
                {"role": "assistant", "content": answer.strip()}]
    return [{"role": "assistant", "content": text.strip()}]


# ----- preference pairs and KTO rows -----------------------------------------------------

def normalise_preference(row: dict) -> dict[str, Any]:
    """A DPO pair in any of the layouts in use, as ``Example`` fields.

    - TRL standard ``{"prompt": str, "chosen": str, "rejected": str}`` and conversational
      ``{"prompt": [...], "chosen": [...], "rejected": [...]}``; without ``prompt`` (TRL's
      implicit prompt) the shared leading messages are the prompt;
    - ShareGPT (LLaMA-Factory) ``{"conversations": [...], "chosen": {"from", "value"},
      "rejected": {...}}``, and Alpaca ``{"instruction", "input", "chosen", "rejected"}``;
    - ``{"chosen_messages": [...], "rejected_messages": [...]}`` full conversations.
    """
    keys = ("chosen_messages", "rejected_messages") if (
        "chosen_messages" in row or "rejected_messages" in row) else ("chosen", "rejected")
    for key in keys:
        if key not in row:
            raise RowError("missing_field", f"the preference row has no {key!r}; a pair needs "
                                            f"both {keys[0]!r} and {keys[1]!r}")
    prompt = _preference_prompt(row)
    sides = [_preference_side(row[key], key) for key in keys]
    if prompt is None:  # implicit prompt: what both sides start with
        prompt, sides = _split_shared_prompt(sides, keys)
    for side, key in zip(sides, keys):
        if not any(m["role"] == "assistant" and (m["content"].strip() or m.get("tool_calls"))
                   for m in side):
            raise RowError("empty_content", f"the {key!r} side has no answer; write the "
                                            f"{key.split('_')[0]} answer")
    if not prompt:
        raise RowError("no_shared_prompt", "the pair has no prompt; add a 'prompt' (or the user "
                                           "turn both answers reply to)")
    chosen, rejected = sides
    if _side_key(chosen) == _side_key(rejected):
        raise RowError("identical_pair", "chosen and rejected are the same answer, so the pair "
                                         "teaches nothing; fix one side or drop the row")
    return {"messages": prompt + chosen, "chosen": chosen, "rejected": rejected}


def _preference_prompt(row: dict) -> list[dict[str, Any]] | None:
    if "prompt" in row:
        prompt = row["prompt"]
        if isinstance(prompt, str):
            if not prompt.strip():
                raise RowError("empty_content", "'prompt' is empty; write what both answers reply to")
            return [{"role": "user", "content": prompt}]
        if isinstance(prompt, list):
            if not prompt:
                raise RowError("empty_content", "'prompt' is an empty list")
            return _message_list(prompt, "prompt")
        raise RowError("wrong_type", f"'prompt' must be a string or a list of messages, got a "
                                     f"{_json_type(prompt)}")
    if "conversations" in row:
        if not isinstance(row["conversations"], list):
            raise RowError("wrong_type", "'conversations' must be a list")
        return _message_list(row["conversations"], "conversations")
    if "messages" in row:
        if not isinstance(row["messages"], list):
            raise RowError("wrong_type", "'messages' must be a list")
        return _message_list(row["messages"], "messages")
    if "instruction" in row or "input" in row:
        instruction = _text_field(row, "instruction", "the row", required=False)
        extra = _text_field(row, "input", "the row", required=False)
        user = "\n\n".join(t for t in (instruction, extra) if t.strip())
        if not user:
            raise RowError("empty_content", "'instruction' is empty; say what the model should do")
        system = row.get("system")
        head = [{"role": "system", "content": system}] if isinstance(system, str) and system.strip() else []
        return head + [{"role": "user", "content": user}]
    return None


def _preference_side(value: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(value, str):
        # Anthropic HH-RLHF writes each side as a whole '\n\nHuman: …\n\nAssistant: …'
        # transcript: its turns, so the shared prompt is whole turns, not shared letters
        return markup_turns(value) or [{"role": "assistant", "content": value}]
    if isinstance(value, dict):
        return _message_list([value], key)
    if isinstance(value, list):
        if not value:
            raise RowError("empty_content", f"{key!r} is an empty list; write the answer")
        return _message_list(value, key)
    raise RowError("wrong_type", f"{key!r} must be a string, a message or a list of messages, "
                                 f"got a {_json_type(value)}")


def _message_list(raw: list, key: str) -> list[dict[str, Any]]:
    """OpenAI ``{"role", "content"}`` or ShareGPT ``{"from", "value"}`` messages."""
    out = []
    for i, m in enumerate(raw):
        if isinstance(m, dict) and "from" in m and "role" not in m:
            where = f"{key}[{i}]"
            who = m["from"]
            role = SHAREGPT_ROLES.get(who.lower()) if isinstance(who, str) else None
            if role is None:
                raise RowError("invalid_role", f"{where} 'from' is {who!r}; use human, gpt or system")
            value = _text_field(m, "value", where)
            if not value.strip():
                raise RowError("empty_content", f"{where} ({who}) has an empty 'value'")
            out.append({"role": role, "content": value})
        else:
            try:
                out.append(_openai_message(m, i))
            except RowError as err:
                raise RowError(err.code, err.message.replace("messages[", f"{key}[", 1)) from None
    return out


def _split_shared_prompt(sides: list[list[dict[str, Any]]], keys: tuple[str, str]):
    chosen, rejected = sides
    if len(chosen) == 1 and len(rejected) == 1 and chosen[0]["role"] == rejected[0]["role"] == \
            "assistant" and "tool_calls" not in chosen[0] and "tool_calls" not in rejected[0]:
        # two plain texts (Anthropic HH style): the common leading text is the prompt
        a, b = chosen[0]["content"], rejected[0]["content"]
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        if a == b:
            raise RowError("identical_pair", "chosen and rejected are the same text, so the pair "
                                             "teaches nothing; fix one side or drop the row")
        if not a[:n].strip():
            raise RowError("no_shared_prompt", f"{keys[0]!r} and {keys[1]!r} share no prompt; add "
                                               "a 'prompt' field with what both answers reply to")
        return ([{"role": "user", "content": a[:n]}],
                [[{"role": "assistant", "content": a[n:]}], [{"role": "assistant", "content": b[n:]}]])
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
        n += 1
    if n == 0:
        raise RowError("no_shared_prompt", f"{keys[0]!r} and {keys[1]!r} share no prompt (their "
                                           "first messages differ); both should start with the "
                                           "same user turn, or add a 'prompt' field")
    return chosen[:n], [chosen[n:], rejected[n:]]


def _side_key(side: list[dict[str, Any]]) -> str:
    return json.dumps([(m["role"], m["content"].strip(), m.get("tool_calls")) for m in side],
                      sort_keys=True)


def normalise_kto(row: dict) -> dict[str, Any]:
    """A chat, ShareGPT, Alpaca or prompt/completion row with a KTO flag (``label`` or
    ``kto_tag``): the final answer is one to imitate (true) or to avoid (false)."""
    if "messages" in row:
        fields = normalise_openai(row)
    elif "conversations" in row:
        fields = normalise_sharegpt(row)
    elif "completion" in row:
        fields = normalise_prompt_completion(row)
    else:
        fields = normalise_alpaca(row)
    return {**fields, "label": kto_label(row)}


NORMALISERS = {
    "openai_chat": normalise_openai,
    "sharegpt": normalise_sharegpt,
    "alpaca": normalise_alpaca,
    "prompt_completion": normalise_prompt_completion,
    "preference": normalise_preference,
    "kto": normalise_kto,
}

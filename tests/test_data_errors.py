"""Bad rows are reported with their physical line and a stable code, never raised."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ft_tui.core.data import ERROR_CODES, load_examples

GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}


def row(**messages_override):
    return json.dumps(GOOD | messages_override)


def msgs(*pairs):
    return json.dumps({"messages": [{"role": r, "content": c} for r, c in pairs]})


def codes(result):
    return [(e.line, e.code) for e in result.errors]


def test_every_error_code_on_its_own_line(tmp_path):
    lines = [
        json.dumps(GOOD),                                             # 1 ok
        '{"messages": [',                                             # 2 invalid_json
        json.dumps({"foo": 1}),                                       # 3 unknown_format
        json.dumps({"instruction": "x", "output": "y"}),              # 4 mixed_format
        json.dumps({"messages": [{"content": "x"}]}),                 # 5 missing_field
        json.dumps({"messages": [{"role": "user", "content": 3}]}),   # 6 wrong_type
        msgs(("robot", "x"), ("assistant", "y")),                     # 7 invalid_role
        msgs(("user", "   "), ("assistant", "y")),                    # 8 empty_content
        msgs(("system", "s"), ("user", "q")),                         # 9 no_assistant_turn
    ]
    path = tmp_path / "bad.jsonl"
    data = "\n".join(lines).encode() + b"\n" + b'{"messages": "caf\xe9"}\n'  # 10 not_utf8
    path.write_bytes(data)
    result = load_examples(path)
    assert codes(result) == [(2, "invalid_json"), (3, "unknown_format"), (4, "mixed_format"),
                             (5, "missing_field"), (6, "wrong_type"), (7, "invalid_role"),
                             (8, "empty_content"), (9, "no_assistant_turn"), (10, "not_utf8")]
    # the two preference-pair codes need a preference file: tests/test_data_preference.py
    # and the tool/key ones: tests/test_data_real_files.py
    assert {code for _, code in codes(result)} == set(ERROR_CODES) - {
        "identical_pair", "no_shared_prompt", "unknown_key", "unknown_tool",
        "invalid_csv", "compressed", "chat_markup"}  # these three: tests/test_data_ecosystem.py
    assert [ex.line for ex in result.examples] == [1]
    # Messages say what is wrong and what to do.
    by_code = {e.code: e.message for e in result.errors}
    assert "'robot'" in by_code["invalid_role"] and "system, user, assistant" in by_code["invalid_role"]
    assert "openai_chat" in by_code["mixed_format"] and "line 1" in by_code["mixed_format"]
    assert "UTF-8" in by_code["not_utf8"]


@pytest.mark.parametrize("bad, code", [
    ({"conversations": [{"from": "alien", "value": "x"}]}, "invalid_role"),
    ({"conversations": [{"value": "x"}]}, "missing_field"),
    ({"conversations": "hi"}, "wrong_type"),
    ({"conversations": [{"from": "human", "value": "q"}]}, "no_assistant_turn"),
    ({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": ""}]},
     "empty_content"),
])
def test_sharegpt_row_errors(tmp_path, bad, code):
    good = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    assert codes(load_examples(path)) == [(2, code)]


@pytest.mark.parametrize("bad, code", [
    ({"instruction": "x"}, "missing_field"),
    ({"instruction": "x", "output": 5}, "wrong_type"),
    ({"instruction": "x", "output": " "}, "empty_content"),
    ({"prompt": "x"}, "mixed_format"),
])
def test_alpaca_row_errors(tmp_path, bad, code):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"instruction": "i", "output": "o"}) + "\n" + json.dumps(bad) + "\n",
                    encoding="utf-8")
    assert codes(load_examples(path)) == [(2, code)]


def test_openai_tool_call_and_weight_type_errors(tmp_path):
    lines = [
        json.dumps({"messages": [{"role": "user", "content": "q"},
                                 {"role": "assistant", "content": None,
                                  "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]}]}),
        json.dumps({"messages": [{"role": "user", "content": "q"},
                                 {"role": "assistant", "content": "a", "weight": "yes"}]}),
        json.dumps({"messages": [{"role": "user", "content": "q"},
                                 {"role": "assistant", "content": None}]}),
    ]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert codes(load_examples(path)) == [(1, "wrong_type"), (2, "wrong_type"), (3, "wrong_type")]


def test_bom_crlf_and_blank_lines_keep_physical_line_numbers(tmp_path):
    body = "\r\n".join([json.dumps(GOOD), "", "   ", '{"messages": oops}', "", json.dumps(GOOD)])
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode() + b"\r\n\r\n")
    result = load_examples(path)
    assert [ex.line for ex in result.examples] == [1, 6]
    assert codes(result) == [(4, "invalid_json")]
    assert result.examples[0].output_text() == "Hello"  # no stray \r


def test_text_file_with_bom_crlf_and_a_missing_separator(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_bytes(b"\xef\xbb\xbfQ1 ### A1\r\n\r\nQ2 ### A2\r\nno separator here\r\nQ3 ###  \r\n")
    result = load_examples(path)
    assert [ex.line for ex in result.examples] == [1, 3]
    assert result.examples[0].input_text() == "Q1"
    assert codes(result) == [(4, "missing_field"), (5, "empty_content")]


def test_json_array_errors_point_at_element_lines_and_parsing_resumes(tmp_path):
    good = '  {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}'
    text = "\n".join([
        "[",
        good + ",",                                                   # 2
        '  {"conversations": [{"from": "human", "value": "q2"},',     # 3
        '                     {"from": "bot", "value": "a2"}]},',    # 4 -> element at 3
        '  {"conversations": [{"from": "human" "value": "x"}]},',     # 5 invalid JSON
        good.replace('"a"', '"b"') + ",",                             # 6 ok again
        '  {"conversations": [{"from": "human", "value": "caf\udce9"}, {"from": "gpt", "value": "c"}]}',
        "]",
    ])
    path = tmp_path / "arr.json"
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    result = load_examples(path)
    assert result.format == "sharegpt"
    assert [ex.line for ex in result.examples] == [2, 6]
    assert codes(result) == [(3, "invalid_role"), (5, "invalid_json"), (7, "not_utf8")]


def test_unclosed_json_array_is_one_error(tmp_path):
    path = tmp_path / "open.json"
    path.write_text('[\n{"prompt": "a", "completion": "b"},\n', encoding="utf-8")
    result = load_examples(path)
    assert len(result.examples) == 1
    assert [e.code for e in result.errors] == ["invalid_json"]


def test_pretty_printed_object_in_jsonl_gets_a_hint(tmp_path):
    path = tmp_path / "pretty.jsonl"
    path.write_text('{\n  "prompt": "a",\n  "completion": "b"\n}\n', encoding="utf-8")
    result = load_examples(path)
    assert result.errors[0].line == 1 and "pretty-printed" in result.errors[0].message


def test_unpaired_surrogate_escape_is_not_utf8(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"prompt": "\\ud800", "completion": "b"}\n', encoding="utf-8")
    assert codes(load_examples(path)) == [(1, "not_utf8")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_loader_never_raises_on_arbitrary_bytes(tmp_path, data):
    for suffix in (".jsonl", ".json", ".txt", ".csv"):
        path = tmp_path / f"fuzz{suffix}"
        path.write_bytes(data)
        result = load_examples(path)
        n_lines = data.count(b"\n") + 1
        assert all(1 <= e.line <= n_lines + 1 for e in result.errors)
        assert all(1 <= ex.line <= n_lines + 1 for ex in result.examples)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["messages", "conversations", "role", "content", "from",
                                       "value", "instruction", "input", "output", "prompt",
                                       "completion", "text", "tool_calls", "weight"]),
                      children, max_size=4),
    max_leaves=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_json_values, max_size=6), as_array=st.booleans())
def test_loader_never_raises_on_arbitrary_json_rows(tmp_path, rows, as_array):
    path = tmp_path / ("rows.json" if as_array else "rows.jsonl")
    if as_array:
        path.write_text("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n", encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = load_examples(path)
    if not as_array and rows and not isinstance(rows[0], list):  # read as JSONL
        # every row accounted for (one problem on many rows is said once, with its count)
        assert len(result.examples) + sum(e.rows for e in result.errors) == len(rows)
    for ex in result.examples:  # whatever got through is well-formed
        assert ex.completion_messages() and all(isinstance(m["content"], str) for m in ex.messages)

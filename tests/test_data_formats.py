"""Every supported format is recognised and normalised to TRL's conversational form."""

import json

import pytest

from ft_tui.core.data import load_examples
from tests.conftest import SAMPLE_DATA

FORMATS_DIR = SAMPLE_DATA / "formats"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def chat(user, answer, system=None):
    msgs = [{"role": "system", "content": system}] if system else []
    return {"messages": msgs + [{"role": "user", "content": user},
                                {"role": "assistant", "content": answer}]}


@pytest.mark.parametrize("name, fmt, n", [
    ("sharegpt.json", "sharegpt", 6),
    ("alpaca.jsonl", "alpaca", 6),
    ("prompt_completion.jsonl", "prompt_completion", 8),
    ("text_pairs.txt", "text", 5),
    ("openai_tools.jsonl", "openai_chat", 4),
])
def test_bundled_format_samples_load_cleanly(name, fmt, n):
    result = load_examples(FORMATS_DIR / name)
    assert (result.format, len(result.examples), result.errors) == (fmt, n, [])
    for ex in result.examples:
        assert ex.completion_messages()[0]["role"] == "assistant"
        assert {m["role"] for m in ex.messages} <= {"system", "user", "assistant", "tool"}


def test_openai_chat_keeps_system_tools_and_weights():
    result = load_examples(FORMATS_DIR / "openai_tools.jsonl")
    first = result.examples[0]
    assert [m["role"] for m in first.messages] == ["system", "user", "assistant", "tool", "assistant"]
    call = first.messages[2]["tool_calls"][0]
    # The API's JSON-string arguments become a dict, which chat templates expect.
    assert call["function"] == {"name": "get_order_status", "arguments": {"order_id": "48213"}}
    assert first.messages[2]["content"] == ""
    assert first.messages[3]["tool_call_id"] == "call_1"
    assert first.prompt_messages() == first.messages[:4]
    assert first.output_text().startswith("Order 48213 has shipped")
    assert first.input_text() == "Where is order 48213?"
    assert result.examples[2].messages[-1]["weight"] == 1.0


def test_openai_top_level_weight_developer_role_and_content_parts(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{
        "weight": 0.5,
        "messages": [{"role": "developer", "content": "Be terse."},
                     {"role": "user", "content": [{"type": "text", "text": "Hi "},
                                                  {"type": "text", "text": "there"}]},
                     {"role": "assistant", "content": "Hello"}]}])
    ex = load_examples(path).examples[0]
    assert ex.weight == 0.5
    assert ex.messages[0] == {"role": "system", "content": "Be terse."}
    assert ex.input_text() == "Hi there"


def test_sharegpt_as_jsonl_maps_roles(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [
        {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q1"},
                           {"from": "gpt", "value": "A1"}, {"from": "user", "value": "Q2"},
                           {"from": "assistant", "value": "A2"}]}])
    result = load_examples(path)
    assert result.format == "sharegpt"
    ex = result.examples[0]
    assert [m["role"] for m in ex.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert ex.completion_messages() == [{"role": "assistant", "content": "A2"}]
    assert ex.input_text() == "Q1\n\nQ2"


def test_sharegpt_json_array_reports_element_start_lines():
    result = load_examples(FORMATS_DIR / "sharegpt.json")
    # Each element is pretty-printed over several lines; the line is where it starts.
    assert [ex.line for ex in result.examples] == [2, 9, 16, 23, 30, 37]


def test_alpaca_joins_instruction_and_input(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour",
         "system": "You translate."},
        {"instruction": "Name a colour.", "input": "", "output": "Blue"}])
    a, b = load_examples(path).examples
    assert a.messages == [{"role": "system", "content": "You translate."},
                          {"role": "user", "content": "Translate to French.\n\nGood morning"},
                          {"role": "assistant", "content": "Bonjour"}]
    assert b.messages[0] == {"role": "user", "content": "Name a colour."}


def test_prompt_completion_strings_and_conversational_lists(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"prompt": "2+2=", "completion": "4"},
        {"prompt": [{"role": "user", "content": "3+3="}],
         "completion": [{"role": "assistant", "content": "6"}]}])
    a, b = load_examples(path).examples
    assert a.prompt_messages() == [{"role": "user", "content": "2+2="}]
    assert b.completion_messages() == [{"role": "assistant", "content": "6"}]


def test_text_with_separator_and_plain_text(tmp_path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("What is 2+2? ### 4\nCapital of France? ### Paris\n", encoding="utf-8")
    ex = load_examples(pairs).examples[1]
    assert ex.messages == [{"role": "user", "content": "Capital of France?"},
                           {"role": "assistant", "content": "Paris"}]
    plain = tmp_path / "corpus.txt"
    plain.write_text("A sentence to learn.\nAnother one.\n", encoding="utf-8")
    result = load_examples(plain)
    assert result.format == "text"
    assert result.examples[0].prompt_messages() == []
    assert result.examples[0].output_text() == "A sentence to learn."


def test_json_text_rows_are_the_text_format(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"text": "Q ### A"}])
    result = load_examples(path)
    assert result.format == "text"
    assert result.examples[0].output_text() == "A"


def test_csv_reads_alpaca_columns_with_physical_lines(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text('instruction,input,output\nSay hi,,hi\n"Multi\nline",x,y\nAsk,,\n',
                    encoding="utf-8")
    result = load_examples(path)
    assert result.format == "alpaca"
    assert [ex.line for ex in result.examples] == [2, 3]
    assert [(e.line, e.code) for e in result.errors] == [(5, "empty_content")]


def test_parquet_rows_are_numbered_from_one(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"prompt": ["a", "b", ""], "completion": ["1", "2", "3"]}), path)
    result = load_examples(path)
    assert result.format == "prompt_completion"
    assert [ex.line for ex in result.examples] == [1, 2]
    assert [(e.line, e.code) for e in result.errors] == [(3, "empty_content")]


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_examples(tmp_path / "nope.jsonl")

"""Files damaged the way spreadsheets and editors damage them: the whole file's problem
said once, every readable row still read, and no cleaned copy that silently lacks rows."""

import csv
import io
import json
import os

import pytest

from ft_tui.core.data import inspect_path, load_examples, write_cleaned, write_split
from ft_tui.core.data.clean import CleanRefused

# Alpaca rows in the shape of LLaMA-Factory's alpaca_en_demo.json
ROWS = [("Give three tips for staying healthy.", "", "Eat well, sleep enough, move daily."),
        ("Translate to French.", "Good morning", "Bonjour"),
        ("What is the capital of Peru?", "", "Lima."),
        ("Name a primary colour.", "", "Red."),
        ("Résumé the text.", "Café au lait, s'il vous plaît.", "A coffee order.")]


def write_csv(path, delimiter=",", encoding="utf-8", rows=ROWS):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["instruction", "input", "output"])
    writer.writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def test_semicolon_csv_is_read_like_a_comma_one(tmp_path):
    result = load_examples(write_csv(tmp_path / "excel.csv", delimiter=";"))
    assert (result.format, len(result.examples), result.errors) == ("alpaca", 5, [])
    assert result.examples[1].messages[0]["content"] == "Translate to French.\n\nGood morning"


def test_a_header_no_format_can_use_is_one_error_not_one_per_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("question,reply\n" + "".join(f"q{i},a{i}\n" for i in range(500)))
    report = inspect_path(path)
    assert len(report.errors) == 1 and report.errors[0].line == 1
    assert "'question', 'reply'" in report.errors[0].message


def test_cp1252_rows_are_each_reported_and_the_rest_still_read(tmp_path, capsys):
    path = write_csv(tmp_path / "cp1252.csv", encoding="cp1252")  # row 6 has é
    more = "".join(f"Question {i}?,,Answer {i}.\r\n" for i in range(30)).encode()
    path.write_bytes(path.read_bytes() + more)
    result = load_examples(path)
    assert [(e.line, e.code) for e in result.errors] == [(6, "not_utf8")]
    assert len(result.examples) == 4 + 30
    with pytest.raises(CleanRefused, match="line.* 6"):
        write_cleaned(path)
    assert not (tmp_path / "cp1252.cleaned.jsonl").exists()
    from ft_tui.cli import main

    assert main(["inspect", str(path), "--model", "none", "--clean"]) == 1
    assert "--clean refused" in capsys.readouterr().err


def test_bom_csv_reads_its_first_column(tmp_path):
    path = write_csv(tmp_path / "bom.csv")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert len(load_examples(path).examples) == 5


def test_a_json_file_with_one_object_is_one_example(tmp_path):
    path = tmp_path / "one.json"
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    path.write_text(json.dumps(row, indent=2))
    result = load_examples(path)
    assert (len(result.examples), result.errors) == (1, [])
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": [row, row, row]}, indent=2))
    report = inspect_path(wrapped)
    assert len(report.errors) == 1 and "'data' holds 3 rows" in report.errors[0].message


def test_trailing_comma_is_named_and_no_at_at(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "a", "completion": "b",}\n{"prompt": "a", "completion": "b\n')
    errors = load_examples(path).errors
    assert "trailing comma at column 34" in errors[0].message
    arr = tmp_path / "d.json"
    arr.write_text('[\n  {"prompt": "a", "completion": "unterminated\n]')
    assert all("at at" not in e.message for e in load_examples(arr).errors + errors)


def test_cleaned_and_split_files_keep_the_original_mode(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"q{i}", "completion": f"a{i}"}) + "\n"
                            for i in range(20)))
    os.chmod(path, 0o644)
    assert os.stat(write_cleaned(path)).st_mode & 0o777 == 0o644
    assert {os.stat(p).st_mode & 0o777 for p in write_split(path, 0.2)} == {0o644}


def test_clean_actions_chain_and_say_what_they_removed(tmp_path):
    from ft_tui.tui.steps.data_work import run_action

    path = tmp_path / "d.jsonl"
    rows = [json.dumps({"prompt": f"q{i}", "completion": f"a{i}"}) for i in range(4)]
    path.write_text("\n".join(rows + [rows[0], "{broken"]) + "\n")
    text, paths = run_action("dedupe", path, 0.1, 42)
    assert "removed 1 duplicate row(s) (lines 5" in text
    cleaned = paths["train_path"]
    text, paths = run_action("drop-invalid", __import__("pathlib").Path(cleaned), 0.1, 42)
    assert paths["train_path"] == cleaned and "removed 1 invalid" in text
    result = load_examples(cleaned)
    assert (len(result.examples), result.errors) == (4, [])   # the duplicate stayed out
    assert path.read_text().count("\n") == 6                    # the original untouched


def _chat(user, answer, **extra):
    return {"messages": [{"role": "user", "content": user},
                         {"role": "assistant", "content": answer}], **extra}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_openai_checker_checks_turn_order_and_misspelled_keys(tmp_path):
    rows = [_chat("Hi", "Hello"),
            {"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]},
            {"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "u"},
                          {"role": "assistant", "content": "b"}]},
            {"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"},
                          {"role": "user", "content": "left unanswered"}]},
            {"messages": [{"role": "user", "contnet": "u"}, {"role": "assistant", "content": "a"}]},
            {"mesages": [{"role": "user", "content": "u"}]}]
    report = inspect_path(write_jsonl(tmp_path / "d.jsonl", rows))
    assert report.warning("no_user_turn").lines == [2]
    assert report.warning("assistant_first").lines == [3]
    assert report.warning("ends_on_user").lines == [4]
    assert [(e.line, e.code) for e in report.errors] == [(5, "unknown_key"), (6, "unknown_format")]
    assert "unknown key 'contnet'; did you mean 'content'?" in report.errors[0].message
    assert "did you mean 'messages'?" in report.errors[1].message


GLAIVE_TOOLS = json.dumps([{"name": "get_price", "description": "Price of a stock",
                            "parameters": {"type": "object", "properties": {"ticker": {"type": "string"}}}}])


def _glaive(call, tools=GLAIVE_TOOLS):  # LLaMA-Factory's glaive_toolcall_en_demo.json layout
    return {"conversations": [{"from": "human", "value": "Price of AAPL?"},
                              {"from": "function_call", "value": call},
                              {"from": "observation", "value": "{\"price\": 189.5}"},
                              {"from": "gpt", "value": "AAPL trades at $189.50."}],
            "tools": tools}


def test_sharegpt_tool_calls_are_parsed_and_checked(tmp_path):
    good = json.dumps({"name": "get_price", "arguments": {"ticker": "AAPL"}})
    rows = [_glaive(good), _glaive("{name: get_price}"), _glaive(good, tools="[{oops"),
            _glaive(json.dumps({"name": "get_weather", "arguments": {}}))]
    result = load_examples(write_jsonl(tmp_path / "glaive.jsonl", rows))
    assert [(e.line, e.code) for e in result.errors] == [
        (2, "wrong_type"), (3, "wrong_type"), (4, "unknown_tool")]
    assert "function_call" in result.errors[0].message and "'tools'" in result.errors[1].message
    assert "'get_weather'" in result.errors[2].message
    (ex,) = result.examples
    assert ex.messages[1]["tool_calls"][0]["function"] == {"name": "get_price",
                                                           "arguments": {"ticker": "AAPL"}}
    assert ex.tools[0]["function"]["name"] == "get_price"


def test_contradictions_only_for_labels_or_clearly_different_answers(tmp_path):
    q = "Explain why the sky is blue."
    rows = [_chat(q, "Sunlight scatters off air molecules, and blue light scatters the most."),
            _chat(q, "Because air molecules scatter blue sunlight the most, the sky looks blue."),
            _chat("Ticket: printer jammed", "technical"), _chat("Ticket: printer jammed", "billing"),
            _chat("Capital of France?", "Paris", tools=[{"type": "function", "function": {"name": "a"}}]),
            _chat("Capital of France?", "Paris")]
    report = inspect_path(write_jsonl(tmp_path / "d.jsonl", rows))
    assert report.warning("contradiction").lines == [[3, 4]]
    assert report.warning("duplicate") is None   # the rows differ in their tools


def test_pii_false_alarms_stay_quiet_and_real_hits_remain(tmp_path):
    blob = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg"
    rows = [_chat("Find the book", "ISBN 978-0-306-40615-7 is the one."),
            _chat("Logo?", f"data:image/png;base64,{blob}"),
            _chat("Link?", "See https://example.com/files/Qm9vazEyMzQ1Njc4OTBBQkNERUZHSElKS0xN/v2"),
            _chat("Email regex?", r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$ or /^[a-zA-Z0-9+/]{40,}={0,2}$/"),
            _chat("Key?", "Use sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z and mail ann@example.org")]
    report = inspect_path(write_jsonl(tmp_path / "d.jsonl", rows))
    pii = {w.message.split(" contain ")[1].split(" (")[0]: w.lines for w in report.warnings
           if w.code == "pii"}
    assert pii == {"API keys or secrets": [5], "email addresses": [5]}


def test_media_are_named_once_per_file(tmp_path):
    # LLaMA-Factory's mllm_demo.json layout
    rows = [{"messages": [{"role": "user", "content": "<image>Who are they?"},
                          {"role": "assistant", "content": "Two footballers."}],
             "images": ["mllm_demo_data/1.jpg"]} for _ in range(3)]
    report = inspect_path(write_jsonl(tmp_path / "mllm.jsonl", rows))
    media = [w for w in report.warnings if w.code == "media_ignored"]
    assert len(media) == 1 and media[0].lines == [1, 2, 3] and "not used" in media[0].message


def test_token_counts_include_tool_schemas(tmp_path):
    from tests.fixtures.tiny import build_tokenizer

    big = [{"type": "function", "function": {"name": f"tool_{i}", "description": "x" * 200,
                                             "parameters": {"type": "object", "properties": {}}}}
           for i in range(20)]
    rows = [_chat("Hi", "Hello"), _chat("Hi", "Hello!", tools=big)]
    report = inspect_path(write_jsonl(tmp_path / "t.jsonl", rows), tokenizer=build_tokenizer(),
                          max_length=256)
    short, long = report.token_lengths
    assert long > short + 1000 and report.warning("too_long").lines == [2]
    assert report.warning("tools_as_text").lines == [2]   # the tiny ChatML template has no tools

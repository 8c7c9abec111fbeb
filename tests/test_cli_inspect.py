"""`ft-tui inspect`: the --json contract, the readable report and the exit codes."""

import json
import subprocess
import sys

import pytest

from ft_tui.cli import main
from tests.conftest import SAMPLE_DATA

GOOD = {"messages": [{"role": "user", "content": "Printer jammed"}, {"role": "assistant", "content": "HW-01"}]}


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_json(capsys, *argv):
    code = main(["inspect", *argv, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_json_contract_on_a_file_with_corrupted_lines(tmp_path, capsys, tiny_model_dir):
    path = write_lines(tmp_path / "train.jsonl", [
        json.dumps(GOOD),
        "{not json",
        json.dumps(GOOD),
        json.dumps({"messages": [{"role": "user", "content": "x"}]}),
        json.dumps({"instruction": "a", "output": "b"}),
    ])
    code, data, _ = run_json(capsys, str(path), "--model", str(tiny_model_dir), "--max-length", "16")
    assert code == 1
    assert set(data) >= {"path", "format", "n_examples", "errors", "warnings", "tokens", "labels"}
    assert data["path"] == str(path) and data["format"] == "openai_chat" and data["n_examples"] == 2
    assert [(e["line"], e["code"]) for e in data["errors"]] == [
        (2, "invalid_json"), (4, "no_assistant_turn"), (5, "mixed_format")]
    assert all(set(e) == {"line", "code", "message"} for e in data["errors"])
    assert all(set(w) == {"code", "message", "lines"} for w in data["warnings"])
    assert {"code": "duplicate", "lines": [[1, 3]]}.items() <= next(
        w for w in data["warnings"] if w["code"] == "duplicate").items()
    assert set(data["tokens"]) >= {"min", "median", "p95", "max", "n_too_long", "max_length"}
    assert data["tokens"]["max_length"] == 16
    assert data["labels"] is None  # two outputs are too few to call them labels


def test_clean_sample_file_exits_zero(capsys):
    code, data, _ = run_json(capsys, str(SAMPLE_DATA / "formats" / "alpaca.jsonl"), "--model", "none")
    assert code == 0 and data["errors"] == [] and data["n_examples"] == 6
    assert data["tokens"] is None


def test_no_usable_example_exits_one(tmp_path, capsys):
    path = write_lines(tmp_path / "empty.jsonl", [""])
    code, data, _ = run_json(capsys, str(path), "--model", "none")
    assert code == 1 and data["n_examples"] == 0 and data["format"] is None


@pytest.mark.parametrize("argv", [
    ["inspect", "/no/such/file.jsonl"],
    ["inspect", "."],
    ["inspect", "x.jsonl", "--max-length", "zero"],
    ["inspect", "x.jsonl", "--split", "2"],
    ["inspect", "x.jsonl", "--task-type", "poetry"],
])
def test_usage_errors_exit_two_without_traceback(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "Traceback" not in err and err.strip()


def test_unknown_model_is_a_usage_error(tmp_path, capsys):
    path = write_lines(tmp_path / "d.jsonl", [json.dumps(GOOD)])
    assert main(["inspect", str(path), "--model", "./missing-model-dir", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--model none" in err


def test_readable_report_names_lines_codes_and_fixes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # keep rich from wrapping the message mid-phrase
    path = write_lines(tmp_path / "d.jsonl", [json.dumps(GOOD), '{"messages": [{"role": "bot", "content": "x"}]}'])
    assert main(["inspect", str(path), "--model", "none"]) == 1
    out = capsys.readouterr().out
    assert "invalid_role" in out and "'bot'" in out and "system, user, assistant" in out
    assert "format     openai_chat" in out
    assert "1 rows with errors" in out


def test_clean_and_split_flags_write_files_and_report_them(tmp_path, capsys):
    path = write_lines(tmp_path / "d.jsonl", [json.dumps(GOOD)] * 3 + [json.dumps({
        "messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]})
        for i in range(9)])
    code, data, err = run_json(capsys, str(path), "--model", "none", "--clean", "--split", "0.2")
    assert code == 0
    assert data["written"] == {"cleaned": str(tmp_path / "d.cleaned.jsonl"),
                               "train": str(tmp_path / "d.train.jsonl"),
                               "eval": str(tmp_path / "d.eval.jsonl")}
    assert (tmp_path / "d.cleaned.jsonl").read_text().count("\n") == 10
    assert "Cleaned copy written" in err


def test_subprocess_json_is_one_object_on_stdout(tmp_path):
    path = write_lines(tmp_path / "d.txt", ["q1 ### a1", "q2 ###", "q3 ### a3"])
    proc = subprocess.run([sys.executable, "-m", "ft_tui", "inspect", str(path), "--json",
                           "--model", "none"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)  # exactly one JSON document
    assert data["format"] == "text" and data["n_examples"] == 2
    assert [(e["line"], e["code"]) for e in data["errors"]] == [(2, "empty_content")]
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_default_model_token_lengths_on_every_sample_format(capsys):
    for sample in sorted((SAMPLE_DATA / "formats").iterdir()):
        code, data, _ = run_json(capsys, str(sample), "--model", "default")
        assert code == 0, (sample, data["errors"])
        # SmolLM2's template adds its default system prompt, so even short rows are > 20 tokens.
        assert data["tokens"]["min"] > 20 and data["tokens"]["n_too_long"] == 0

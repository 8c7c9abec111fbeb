"""The objectives (SFT, DPO, KTO, ORPO) as a user meets them: one held-out split that never
scores training rows, every data layout read into one row type, and ORPO trained, evaluated
and exported like the others."""

import json
from pathlib import Path

import pytest

from ft_tui.cli import main
from ft_tui.core.data import inspect_path, load_examples
from tests.test_dpo import write_pairs


def _write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}


def _kto_tool_row(label: bool, tool_name: str = "get_weather") -> dict:
    return {"messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": tool_name, "arguments": {"city": "Oslo"}}}]},
        {"role": "tool", "name": tool_name, "content": "4 C"},
        {"role": "assistant", "content": "4 C in Oslo." if label else "No idea."}],
        "tools": [WEATHER_TOOL], "label": label}


def test_kto_rows_with_tools_keep_them_and_a_bad_one_is_named_by_its_line(tmp_path, capsys):
    """A KTO row with `tools` used to crash the data engine ("unexpected error")."""
    good = _write_jsonl(tmp_path / "kto_tools.jsonl", [_kto_tool_row(True), _kto_tool_row(False)])
    result = load_examples(good)
    assert not list(result.errors) and result.format == "kto"
    assert [ex.label for ex in result.examples] == [True, False]
    assert result.examples[0].tools[0]["function"]["name"] == "get_weather"

    # Line 2 calls a tool its `tools` do not define: a problem at line 2, not a crash.
    bad = _write_jsonl(tmp_path / "kto_bad.jsonl", [_kto_tool_row(True), _kto_tool_row(False, "search")])
    report = inspect_path(bad)
    assert report.format == "kto"
    assert [(e.line, "search" in e.message) for e in report.errors] == [(2, True)]
    code = main(["inspect", str(bad), "--model", "none"])
    out = capsys.readouterr().out
    assert code != 2 and "unexpected error" not in out and "2" in out


def _train(capsys, *argv) -> tuple[int, str, str]:
    code = main(["train", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("method", ["dpo", "kto"])
def test_preference_eval_with_nothing_held_out_refuses_instead_of_scoring_training_pairs(
        tiny_model_dir, tmp_path, capsys, method):
    """eval_fraction 0 and no eval file: training used every pair, so evaluation refuses and
    says which setting to change (it used to score a 10 % split of the training pairs)."""
    data = write_pairs(tmp_path / "pairs.jsonl")
    if method == "kto":
        rows = [json.loads(line) for line in data.read_text().splitlines()]
        data = _write_jsonl(tmp_path / "kto.jsonl", [
            {"prompt": r["prompt"], "completion": r[side], "label": side == "chosen"}
            for r in rows for side in ("chosen", "rejected")])
    code, _, err = _train(capsys, "--model", tiny_model_dir, "--data", data, "--method", method,
                          "--output-dir", tmp_path / "runs", "--run-name", "r", "--max-steps", 1,
                          "--batch-size", 2, "--set", "data.eval_fraction=0",
                          "--set", "training.sample_every_steps=0")
    assert code == 0, err
    code = main(["eval", str(tmp_path / "runs" / "r")])
    out, err = capsys.readouterr()
    assert code != 0
    assert "data.eval_path" in err + out and "data.eval_fraction" in err + out
    assert not (tmp_path / "runs" / "r" / "eval.json").exists()

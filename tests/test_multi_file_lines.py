"""In a data set of several files (a folder or a glob), a row's problem names the file as
well as the line, and so does any other row it refers to (the row that fixed the format,
the first renamed or media row), so the user can find both."""

import json

from ft_tui.core.data.report import inspect_path


def _chat(q, a, **extra):
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}], **extra}


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _shards(tmp_path):
    # the shape of a Hugging Face export split in shards, one with an Alpaca row pasted in
    folder = tmp_path / "support"
    folder.mkdir()
    _write(folder / "train-00000.jsonl", [_chat("Reset my password", "Settings > Security."),
                                          _chat("Cancel my plan", "Billing > Plan > Cancel.")])
    _write(folder / "train-00001.jsonl", [
        _chat("Export my data", "Settings > Privacy > Export."),
        {"instruction": "Change my email", "output": "Settings > Account > Email."},
        _chat("What is on this screenshot?", "An error dialog.", images=["shot.png"])])
    return folder


def test_mixed_format_in_a_folder_names_both_files_and_lines(tmp_path):
    folder = _shards(tmp_path)
    report = inspect_path(folder).to_dict()

    mixed = [e for e in report["errors"] if e["code"] == "mixed_format"]
    assert len(mixed) == 1, report["errors"]
    assert mixed[0]["line"] == "train-00001.jsonl:2"
    assert "but the data set is openai_chat (from train-00000.jsonl:1)" in mixed[0]["message"]
    media = next(w for w in report["warnings"] if w["code"] == "media_ignored")
    assert media["lines"] == ["train-00001.jsonl:3"] and "train-00001.jsonl:3" in media["message"]


def test_a_glob_of_text_files_names_the_file_of_the_row_without_a_separator(tmp_path):
    (tmp_path / "a.txt").write_text("Reset my password ### Settings > Security.\n")
    (tmp_path / "b.txt").write_text("Cancel my plan ### Billing.\nExport my data, then go.\n")
    report = inspect_path(str(tmp_path / "*.txt")).to_dict()
    missing = [e for e in report["errors"] if e["code"] == "missing_field"]
    assert [e["line"] for e in missing] == ["b.txt:2"], report["errors"]
    assert "unlike the rest of the data set (from a.txt:1)" in missing[0]["message"]


def test_one_file_keeps_its_plain_wording(tmp_path):
    _write(tmp_path / "train.jsonl", [_chat("Reset my password", "Settings > Security."),
                                      {"instruction": "Change my email", "output": "Account."}])
    error, = inspect_path(tmp_path / "train.jsonl").to_dict()["errors"]
    assert error["line"] == 2 and "but the file is openai_chat (from line 1)" in error["message"]


def test_the_wizard_shows_an_errors_raw_line_from_its_own_file(tmp_path):
    from ft_tui.tui.steps.data_work import error_text

    folder = _shards(tmp_path)
    mixed, = [e for e in inspect_path(folder).to_dict()["errors"] if e["code"] == "mixed_format"]
    shown = error_text(str(folder), mixed).plain
    assert "     2 │ " in shown and '"instruction": "Change my email"' in shown, shown

"""Wrong results without a word: a data file rewritten after training started, and a
held-out file that shares rows with the training file."""

import json

import pytest

from ft_tui.core.run.rundir import RunDir, RunDirError
from tests.fixtures.eval_run import build_run_dir, write_chat_jsonl


def test_resume_refuses_a_data_file_rewritten_at_the_same_path(tmp_path, tiny_model_dir):
    from ft_tui.core.training import resume_runner

    run = RunDir(build_run_dir(tmp_path, tiny_model_dir, with_adapter=False))
    run.write_status("stopped", step=5, total_steps=30)
    write_chat_jsonl(tmp_path / "data" / "train.jsonl", [("other", "rows")] * 9)
    with pytest.raises(RunDirError, match="data.train_path: .*changed since the run started"):
        resume_runner(run.path)


def test_eval_warns_about_a_changed_held_out_file_and_records_what_it_scored(
        tmp_path, tiny_model_dir, isolated_cache, capsys):
    from ft_tui.cli import main
    from ft_tui.core.run.rundir import file_sha256

    run = build_run_dir(tmp_path, tiny_model_dir)
    eval_file = tmp_path / "data" / "eval.jsonl"
    write_chat_jsonl(eval_file, [("Printer is on fire", "HW-01")] * 3)
    assert main(["eval", str(run), "--max-examples", "1", "--no-general"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "data.eval_path" in out and "changed since the run started" in out
    settings = json.loads((run / "eval.json").read_text())["settings"]
    assert "changed since the run started" in settings["data_changed"]
    assert settings["data_sha256"]["data.eval_path"] == file_sha256(eval_file)

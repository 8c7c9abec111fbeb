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
    from ft_tui.core.run.data_hashes import file_sha256

    run = build_run_dir(tmp_path, tiny_model_dir)
    eval_file = tmp_path / "data" / "eval.jsonl"
    write_chat_jsonl(eval_file, [("Printer is on fire", "HW-01")] * 3)
    assert main(["eval", str(run), "--max-examples", "1", "--no-general"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "data.eval_path" in out and "changed since the run started" in out
    settings = json.loads((run / "eval.json").read_text())["settings"]
    assert "changed since the run started" in settings["data_changed"]
    assert settings["data_sha256"]["data.eval_path"] == file_sha256(eval_file)


def _chat(q, a):
    return [{"role": "user", "content": q}, {"role": "assistant", "content": a}]


def test_overlap_counts_exact_and_near_duplicate_held_out_rows():
    from ft_tui.core.data.overlap import overlap_message

    train = [(i + 1, _chat(f"question {i}", f"answer {i}")) for i in range(8)]
    held = [(1, _chat("question 0", "answer 0")), (2, _chat("Question 1!", "ANSWER 1")),
            (3, _chat("question 2", "answer 2")), (4, _chat("question 3", "answer 3")),
            (5, _chat("new", "row")), (6, _chat("other", "row")), (7, _chat("x", "y")),
            (8, _chat("z", "w"))]
    note = overlap_message(train, held)
    assert "4 of 8 held-out examples" in note and "3 exactly, 1 up to case" in note
    assert "lines 1, 2, 3, 4" in note
    assert overlap_message(train, held[4:]) is None


def test_training_on_the_held_out_file_is_warned_when_the_run_starts(tiny_model_dir, tmp_path):
    from ft_tui.core.run.events import TrainWarning
    from ft_tui.core.training import TrainingRunner
    from tests.test_training_runner import tiny_cfg

    cfg = tiny_cfg(tiny_model_dir, tmp_path)
    cfg = cfg.with_overrides({"data.eval_path": cfg.data.train_path})
    warnings = []

    def on_event(event):
        if isinstance(event, TrainWarning):
            warnings.append(event)
            runner.request_stop()
    runner = TrainingRunner(cfg, on_event=on_event)
    runner.run()
    overlap = [w for w in warnings if w.code == "eval_overlap"]
    assert overlap and "the held-out file is the training file" in overlap[0].message


def test_eval_says_when_the_held_out_rows_were_trained_on(tmp_path, tiny_model_dir, isolated_cache):
    from ft_tui.core.evaluate.run import evaluate_run

    run = build_run_dir(tmp_path, tiny_model_dir,
                        **{"data.eval_path": str(tmp_path / "data" / "train.jsonl")})
    report = evaluate_run(run, max_examples=2, judge=False)
    assert "the held-out file is the training file" in report.settings["eval_overlap"]
    assert "2 of 2 held-out examples" in report.settings["eval_overlap"]


def test_a_one_row_data_set_says_there_is_no_held_out_data(tiny_model_dir, tmp_path):
    from ft_tui.core.run.events import TrainWarning
    from ft_tui.core.training import TrainingRunner
    from tests.test_training_runner import tiny_cfg, write_data

    cfg = tiny_cfg(tiny_model_dir, tmp_path, **{"training.max_steps": 1, "training.batch_size": 1,
                                                "training.sample_every_steps": 0})
    write_data(tmp_path / "train.jsonl", n=1)
    seen = []
    finished = TrainingRunner(cfg, on_event=seen.append).run()
    codes = [e.code for e in seen if isinstance(e, TrainWarning)]
    assert "no_held_out" in codes, (codes, finished.message)

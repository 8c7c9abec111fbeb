"""Nothing lost: files ft-tui must never empty or replace, whatever a folder holds
(a planted lock link, an existing split, a full disk during a save)."""

import json
import os
from pathlib import Path

import pytest

from ft_tui.core.run.lock import RunInUse, RunLock


def test_a_lock_that_is_a_symlink_is_refused_and_its_target_kept(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("years of work\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").symlink_to(precious)
    with pytest.raises(RunInUse, match="symbolic link"):
        RunLock(run, "evaluating").acquire()
    assert precious.read_text() == "years of work\n"


def test_a_lock_that_is_a_hard_link_or_a_folder_is_refused(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("years of work\n")
    run = tmp_path / "run"
    run.mkdir()
    os.link(precious, run / ".lock")
    with pytest.raises(RunInUse, match="hard link"):
        RunLock(run, "training").acquire()
    assert precious.read_text() == "years of work\n"
    (run / ".lock").unlink()
    (run / ".lock").mkdir()
    with pytest.raises(RunInUse, match="not a regular file|lock"):
        RunLock(run, "training").acquire()


def test_the_lock_is_written_over_never_truncated_and_still_names_its_holder(tmp_path):
    lock = tmp_path / ".lock"
    lock.write_text("x" * 300)      # whatever was there: nothing past the holder field is cut
    with RunLock(tmp_path, "evaluating"):
        assert lock.stat().st_size == 300
        with pytest.raises(RunInUse, match=rf"process {os.getpid()} \(evaluating\)"):
            RunLock(tmp_path, "training").acquire()
    assert lock.stat().st_size == 300


def test_split_never_replaces_an_existing_train_or_eval_file(tmp_path, capsys):
    from ft_tui.cli import main

    rows = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                     {"role": "assistant", "content": f"a{i}"}]}) for i in range(10)]
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(rows) + "\n")
    mine = tmp_path / "data.eval.jsonl"          # the user's own hand-made held-out set
    mine.write_text('{"prompt": "kept", "completion": "as is"}\n')
    assert main(["inspect", str(data), "--model", "none", "--split", "0.2"]) == 0
    err = capsys.readouterr().err
    assert mine.read_text() == '{"prompt": "kept", "completion": "as is"}\n'
    assert not (tmp_path / "data.train.jsonl").exists()   # the pair keeps one number
    train, held = tmp_path / "data.train-2.jsonl", tmp_path / "data.eval-2.jsonl"
    assert str(train) in err and str(held) in err
    assert len(train.read_text().splitlines()) + len(held.read_text().splitlines()) == 10

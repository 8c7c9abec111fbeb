"""Nothing lost: files ft-tui must never empty or replace, whatever a folder holds
(a planted lock link, an existing split, a full disk during a save)."""

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

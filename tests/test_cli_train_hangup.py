"""Headless training over a bare SSH shell: `ft-tui train` keeps training when its terminal
goes away (SIGHUP), and `ft-tui train --detach` starts a run in the background and says how
to follow it. Real processes on the tiny model."""

import os
import shlex
import signal
import sys
import time

import pytest

from ft_tui.cli import main
from ft_tui.core.run.events import StepLog
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training.detach import TRAIN_LOG
from tests.fixtures.terminal import start_in_pty
from tests.test_launch import _config


def _wait(condition, timeout_s=300.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.2)


@pytest.mark.slow   # a trainer process starts: ~20 s on 2 cores
def test_train_in_a_terminal_keeps_training_after_sighup(tiny_model_dir, tmp_path):
    config = _config(tmp_path, tiny_model_dir, max_steps=30)
    run = RunDir(tmp_path / "runs" / "ddp")
    # a real terminal: the live progress bar is on
    proc, master, shown = start_in_pty([sys.executable, "-m", "ft_tui", "train", str(config)])
    _wait(lambda: any(isinstance(e, StepLog) for e in run.read_events()))
    proc.send_signal(signal.SIGHUP)          # what a dropped SSH connection sends
    os.close(master)                         # and the terminal is gone: writes fail now
    code = proc.wait(timeout=600)
    log = (run.path / TRAIN_LOG).read_text()
    assert code == 0, log + shown.decode(errors="replace")[-2000:]
    assert run.read_status()["state"] == "done"
    assert [e.step for e in run.read_events() if isinstance(e, StepLog)] == list(range(1, 31))
    assert (run.adapter_dir / "adapter_config.json").is_file()
    assert "The terminal went away (SIGHUP): training goes on" in log
    assert "Done: finished 30 steps" in log          # the rest of the output went there


@pytest.mark.slow   # a trainer process starts: ~20 s on 2 cores
def test_detach_starts_in_the_background_and_prints_how_to_follow(tiny_model_dir, tmp_path,
                                                                   capsys):
    (tmp_path / "my runs").mkdir()
    config = _config(tmp_path / "my runs", tiny_model_dir, max_steps=3)   # a space in the path
    assert main(["train", str(config), "--detach"]) == 0
    out = capsys.readouterr().out
    run = RunDir(tmp_path / "my runs" / "runs" / "ddp")
    assert f"ft-tui monitor {shlex.quote(str(run.path))}" in out
    assert f"tail -f {shlex.quote(str(run.path / TRAIN_LOG))}" in out
    pid = int(out.split("(process ")[1].split(")")[0])
    assert os.getsid(pid) == pid                    # its own session: no terminal to lose
    _wait(lambda: run.read_status().get("state") == "done")
    assert (run.adapter_dir / "adapter_config.json").is_file()

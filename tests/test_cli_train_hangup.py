"""Headless training over a bare SSH shell: `ft-tui train` keeps training when its terminal
goes away (SIGHUP), and `ft-tui train --detach` starts a run in the background and says how
to follow it. Real processes on the tiny model."""

import os
import pty
import shlex
import signal
import subprocess
import sys
import threading
import time

import pytest

from ft_tui.cli import main
from ft_tui.core.run.events import StepLog
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training.detach import TRAIN_LOG
from tests.test_training_runner import write_data


def _config(folder, model_dir, max_steps):
    folder.mkdir(parents=True, exist_ok=True)
    data = write_data(folder / "train.jsonl", n=32)
    config = folder / "run.yaml"
    config.write_text(
        f"model: {{name: '{model_dir}'}}\n"
        f"data: {{train_path: '{data}', eval_fraction: 0.25}}\n"
        f"training: {{max_steps: {max_steps}, batch_size: 2, gradient_accumulation: 1, eval_steps: 5,\n"
        "           save_steps: 5, sample_every_steps: 0}\n"
        f"output_dir: '{folder / 'runs'}'\nrun_name: hup\n")
    return config


def _wait(condition, timeout_s=300.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.2)


@pytest.mark.slow   # a trainer process starts: ~20 s on 2 cores
def test_train_in_a_terminal_keeps_training_after_sighup(tiny_model_dir, tmp_path):
    config = _config(tmp_path, tiny_model_dir, max_steps=30)
    run = RunDir(tmp_path / "runs" / "hup")
    master, slave = pty.openpty()            # a real terminal: the live progress bar is on
    proc = subprocess.Popen([sys.executable, "-m", "ft_tui", "train", str(config)],
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                            env={**os.environ, "TERM": "xterm-256color"})
    os.close(slave)
    shown = bytearray()

    def drain():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            shown.extend(chunk)

    threading.Thread(target=drain, daemon=True).start()
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
    config = _config(tmp_path / "my runs", tiny_model_dir, max_steps=3)   # a space in the path
    assert main(["train", str(config), "--detach"]) == 0
    out = capsys.readouterr().out
    run = RunDir(tmp_path / "my runs" / "runs" / "hup")
    assert f"ft-tui monitor {shlex.quote(str(run.path))}" in out
    assert f"tail -f {shlex.quote(str(run.path / TRAIN_LOG))}" in out
    pid = int(out.split("(process ")[1].split(")")[0])
    assert os.getsid(pid) == pid                    # its own session: no terminal to lose
    _wait(lambda: run.read_status().get("state") == "done")
    assert (run.adapter_dir / "adapter_config.json").is_file()

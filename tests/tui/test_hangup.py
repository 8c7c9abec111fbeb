"""The wizard's terminal goes away (SIGHUP): it closes its screen itself instead of dying
of the signal mid-write; an evaluation in progress finishes in the background and writes
its report whole, and the process's exit is its own (code 0), not the signal's."""

import os
import signal
import sys
import time

import pytest

from tests.fixtures.terminal import start_in_pty


def test_sighup_closes_the_wizard_cleanly(tmp_path):
    proc, master, shown = start_in_pty([sys.executable, "-m", "ft_tui"], cwd=tmp_path,
                                        env={"COLUMNS": "80", "LINES": "24"})
    deadline = time.monotonic() + 120
    while b"Decide" not in shown:
        assert time.monotonic() < deadline, "the wizard never painted"
        time.sleep(0.1)
    proc.send_signal(signal.SIGHUP)
    os.close(master)              # the terminal is gone: writes to it would fail now
    assert proc.wait(timeout=60) == 0     # not -SIGHUP: it closed itself


@pytest.mark.slow   # an evaluation of the tiny model with the general probes: ~30 s
def test_an_evaluation_the_hang_up_interrupts_finishes_and_writes_its_report(tmp_path,
                                                                            tiny_model_dir):
    import json

    from ft_tui.core.config.settings import RunConfig
    from ft_tui.tui.state import WizardState
    from tests.fixtures.eval_run import build_run_dir

    run = build_run_dir(tmp_path / "runs", tiny_model_dir, max_new_tokens=24)
    state = WizardState(cfg=RunConfig.load(run / "config.yaml"), config_path=tmp_path / "ft-tui.yaml",
                        current_step="evaluate")
    state.run_dir = str(run)
    state.save()
    proc, master, shown = start_in_pty([sys.executable, "-m", "ft_tui"], cwd=tmp_path,
                                        env={"FT_TUI_CACHE": str(tmp_path / "cache")})
    deadline = time.monotonic() + 120
    while b"Evaluate (e)" not in shown:
        assert time.monotonic() < deadline, "the wizard never painted"
        time.sleep(0.1)
    os.write(master, b"e")
    while b" answering " not in shown:   # "base answering 3/8 · …": the evaluation is under way
        assert time.monotonic() < deadline + 120, "the evaluation never started"
        time.sleep(0.1)
    proc.send_signal(signal.SIGHUP)
    os.close(master)
    assert proc.wait(timeout=600) == 0
    report = json.loads((run / "eval.json").read_text())      # whole, written atomically
    assert report["verdict"]["text"]
    assert not [p for p in run.rglob("*") if ".tmp" in p.name]

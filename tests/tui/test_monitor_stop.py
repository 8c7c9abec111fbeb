"""`ft-tui monitor` as a client of a live run: without RUN_DIR it finds the run that trains
under the output folder, and `x` stops it the way the wizard does (the STOP file)."""

import json
import os
import time

import pytest

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training.runner import STOP_FILE
from ft_tui.tui.monitor import MonitorApp, live_or_newest_run
from ft_tui.tui.screens.confirm import ConfirmModal

pytestmark = pytest.mark.anyio


def _run(root, name, state, pid=None, age_s=0.0):
    run = RunDir(root / name)
    run.path.mkdir(parents=True)
    run.save_config(RunConfig())
    status = {"state": state, "step": 3, "total_steps": 10, "updated": time.time() - age_s}
    if pid:
        status["pid"] = pid
    run.status_path.write_text(json.dumps(status))
    run.append_event({"type": "log", "step": 3, "loss": 1.5, "total_steps": 10})
    return run


def test_without_a_run_dir_the_live_run_is_chosen_over_newer_ones(tmp_path):
    live = _run(tmp_path, "live", "running", pid=os.getpid(), age_s=600)
    _run(tmp_path, "newer", "done")
    assert live_or_newest_run(tmp_path) == str(live.path)
    (live.status_path).write_text(json.dumps({"state": "done", "updated": time.time() - 600}))
    assert live_or_newest_run(tmp_path).endswith("newer")
    assert live_or_newest_run(tmp_path / "none") is None


async def test_x_stops_a_live_run_after_asking(tmp_path):
    run = _run(tmp_path, "live", "running", pid=os.getpid())   # a live process: this one
    app = MonitorApp(run, poll_every_s=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await pilot.pause(0.1)
        assert (run.path / STOP_FILE).exists()


async def test_x_does_nothing_to_a_finished_run(tmp_path):
    run = _run(tmp_path, "old", "stopped")
    app = MonitorApp(run, poll_every_s=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("x")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmModal)
        assert not (run.path / STOP_FILE).exists()

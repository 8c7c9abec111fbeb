"""The wizard's real path: its run trains in its own process and session, so a dropped
terminal (tmux kill-session: SIGHUP to the wizard) loses nothing, and a relaunched wizard
finds the run, shows its whole history, follows it and stops it."""

import shutil
import time

import pytest

from ft_tui.core.run.events import StepLog
from ft_tui.core.process import process_alive
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training.detach import TRAIN_LOG, start_detached
from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.screens.leave_run import LeaveRunModal
from ft_tui.tui.state import WizardState
from tests.tui.run_setup import tiny_training_state
from tests.tui.test_train_step import wait_until
from tests.tui.test_terminal_tmux import start_app  # noqa: F401 - the tmux fixture

pytestmark = [pytest.mark.anyio, pytest.mark.detached]


def wait_for(condition, timeout_s=300.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} not reached"
        time.sleep(0.2)


@pytest.mark.slow   # a wizard and a trainer start in tmux: ~30 s on 2 cores
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
async def test_the_run_survives_the_wizards_terminal_and_the_next_wizard_shows_it(
        start_app, tmp_path, tiny_model_dir, monkeypatch):  # noqa: F811
    tiny_training_state(tmp_path, tiny_model_dir, **{"training.max_steps": 30,
                                                     "training.sample_every_steps": 0})
    tmux = start_app()
    tmux.wait_for("Start (s)")
    tmux.keys("s")
    run = RunDir(tmp_path / "runs" / "tiny")
    wait_for(lambda: any(isinstance(e, StepLog) for e in run.read_events()), what="step 1")
    import psutil

    shell = psutil.Process(int(tmux("display-message", "-p", "-t", "ft", "#{pane_pid}")))
    wizards = [p.pid for p in shell.children(recursive=True)
               if "ft_tui.core.training.detach" not in " ".join(p.cmdline())
               and any("ft-tui" in part or "ft_tui" in part for part in p.cmdline())]
    assert wizards, "the wizard's process was not found"
    tmux("kill-server")           # the terminal goes away: SIGHUP to everything in it
    wait_for(lambda: not any(process_alive(pid) for pid in wizards), timeout_s=30,
             what="the wizard's end")
    assert run.read_status()["state"] == "running"
    wait_for(lambda: run.read_status().get("state") == "done", what="the run's end")
    assert (run.adapter_dir / "adapter_config.json").is_file(), (run.path / TRAIN_LOG).read_text()
    assert [e.step for e in run.read_events() if isinstance(e, StepLog)] == list(range(1, 31))

    monkeypatch.chdir(tmp_path)
    app = FtTuiApp(state=WizardState.load(tmp_path / "ft-tui.yaml"))
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.train_view()
        await wait_until(pilot, lambda: not view.dashboard.replaying and view.dashboard.step == 30)
        assert "(done, step 30/30)" in view.status_text
        assert len(view.dashboard.train_points) == 30


@pytest.mark.slow   # a trainer process starts: ~20 s on 2 cores
async def test_a_relaunched_wizard_reattaches_leaves_and_stops_the_live_run(
        tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = tiny_training_state(tmp_path, tiny_model_dir, **{"training.max_steps": 2000,
                                                             "training.sample_every_steps": 0})
    live = start_detached(state.cfg)
    run = live.run_dir
    wait_for(lambda: any(isinstance(e, StepLog) for e in run.read_events()), what="step 1")
    state.run_dir = str(run.path)
    state.current_step = "decide"       # the user had moved on; the live run comes first
    state.save()

    # First wizard: it finds the live run, shows its history and follows it; q asks, and
    # leaving (the default) lets the run train on.
    app = FtTuiApp(state=WizardState.load(tmp_path / "ft-tui.yaml"))
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.train_view()
        await wait_until(pilot, lambda: view.detached and not view.dashboard.replaying)
        assert "Reattached" in view.status_text or "its own process" in view.status_text
        seen = view.dashboard.step
        assert view.dashboard.train_points[0][0] == 1          # from the first step on
        await wait_until(pilot, lambda: view.dashboard.step > seen)  # and it follows the run
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, LeaveRunModal))
        await pilot.press("enter")                                # Leave it running
        await wait_until(pilot, lambda: not app.is_running)
    assert process_alive(live.pid) and run.read_status()["state"] == "running"

    # Second wizard: Stop reaches the trainer; a checkpoint is saved and Resume offered.
    app = FtTuiApp(state=WizardState.load(tmp_path / "ft-tui.yaml"))
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.train_view()
        await wait_until(pilot, lambda: view.detached and not view.dashboard.replaying)
        await pilot.press("x")
        await pilot.press("y")
        await wait_until(pilot, lambda: not view.is_running)
        assert run.read_status()["state"] == "stopped"
        assert run.latest_checkpoint() is not None
        assert "Run stopped" in view.status_text
        assert not app.query_one("#resume").disabled
    live.proc.wait(timeout=60)
    assert not process_alive(live.pid)


async def test_the_wizard_finds_a_live_run_it_did_not_start(tmp_path, tiny_model_dir, monkeypatch):
    """`ft-tui train --detach` started it (the wizard's own last run is another): a wizard
    opened in the folder shows the live one on the Train step."""
    import json
    import os

    monkeypatch.chdir(tmp_path)
    state = tiny_training_state(tmp_path, tiny_model_dir, current_step="decide")
    run = RunDir(tmp_path / "runs" / "bg")
    run.path.mkdir(parents=True)
    run.save_config(state.cfg)
    run.append_event({"type": "log", "step": 1, "loss": 2.0, "total_steps": 50})
    run.status_path.write_text(json.dumps({"state": "running", "step": 1, "total_steps": 50,
                                           "pid": os.getpid()}))    # a live process: this one
    app = FtTuiApp(state=WizardState.load(tmp_path / "ft-tui.yaml"))
    async with app.run_test(size=(100, 40)) as pilot:
        assert app.state.current_step == "train" and app.state.run_dir == str(run.path)
        view = app.train_view()
        await wait_until(pilot, lambda: view.detached and not view.dashboard.replaying)
        assert view.dashboard.step == 1

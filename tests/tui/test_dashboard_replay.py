"""A long run's history is folded off the app thread and shown with one render (Train step
and `ft-tui monitor`); live events are coalesced into a few renders. Counts, not timings:
the old path touched the widgets once per event (tests/bench/dashboard_replay.py times it)."""

import threading

import pytest
from textual.app import App, ComposeResult
from textual.widgets import RichLog, Static

from ft_tui.core.run.events import EvalLog, RunStarted, StepLog
from ft_tui.core.run.rundir import RunDir
from ft_tui.tui.monitor import MonitorApp
from ft_tui.tui.widgets.dashboard import Dashboard
from ft_tui.tui.widgets.dashboard_state import MAX_LOG_LINES, DashboardState
from tests.tui.long_run import long_run_events, write_long_run
from tests.tui.test_train_step import wait_until

pytestmark = pytest.mark.anyio
N_EVENTS = 20_000


@pytest.fixture()
def counted(monkeypatch):
    """Counts RichLog writes and the threads that fold events into a DashboardState."""
    seen = {"writes": 0, "fold_threads": set()}
    write, fold = RichLog.write, DashboardState.fold

    def counting_write(self, *args, **kwargs):
        seen["writes"] += 1
        return write(self, *args, **kwargs)

    def noting_fold(self, event):
        seen["fold_threads"].add(threading.get_ident())
        return fold(self, event)

    monkeypatch.setattr(RichLog, "write", counting_write)
    monkeypatch.setattr(DashboardState, "fold", noting_fold)
    return seen


def expected_run():
    events = long_run_events(N_EVENTS)
    steps = [e.step for e in events if isinstance(e, StepLog)]
    evals = [e.step for e in events if isinstance(e, EvalLog)]
    return events[-1], steps, evals


async def test_monitor_shows_a_20k_event_run_folded_off_the_app_thread(tmp_path, counted):
    run = write_long_run(tmp_path, N_EVENTS)
    end, steps, evals = expected_run()
    app = MonitorApp(RunDir.open(run.path))
    async with app.run_test(size=(100, 30)) as pilot:
        dash = app.query_one(Dashboard)
        await wait_until(pilot, lambda: not dash.replaying, timeout_s=120)
        await pilot.pause()
        assert dash.state.events == N_EVENTS
        assert [s for s, _ in dash.train_points] == steps
        assert [s for s, _ in dash.eval_points] == evals
        assert dash.finished == end and dash.step == end.step
        assert str(app.query_one("#dash-step", Static).content) == f"step {end.step}/{N_EVENTS}"
        assert f"stopped at step {end.step}" in dash.banner_text
        status = str(app.query_one("#monitor-status", Static).content)
        assert status.startswith(f"stopped · step {end.step}") and "reading" not in status
        # Rendered once, not per event: the log pane got its last 2000 lines in one write.
        assert dash.renders <= 4
        assert counted["writes"] == 1
        assert len(app.query_one("#dash-log", RichLog).lines) >= MAX_LOG_LINES
        assert threading.get_ident() not in counted["fold_threads"]


async def test_train_step_shows_the_last_20k_event_run_folded_off_the_app_thread(
        tmp_path, monkeypatch, counted):
    from ft_tui.tui.app import FtTuiApp
    from ft_tui.tui.state import WizardState

    monkeypatch.chdir(tmp_path)
    write_long_run(tmp_path, N_EVENTS)
    end, steps, _ = expected_run()
    state = WizardState.load(tmp_path / "ft-tui.yaml")
    state.current_step, state.run_dir = "train", "runs/long"
    app = FtTuiApp(state=state)
    async with app.run_test(size=(100, 30)) as pilot:
        dash = app.query_one(Dashboard)
        # The status line is there at once; the history follows from the worker.
        assert f"(stopped, step {end.step}/{N_EVENTS})" in app.query_one("#train-status",
                                                                         Static).content
        await wait_until(pilot, lambda: not dash.replaying, timeout_s=120)
        await pilot.pause()
        assert [s for s, _ in dash.train_points] == steps
        assert dash.finished == end
        assert str(app.query_one("#dash-step", Static).content) == f"step {end.step}/{N_EVENTS}"
        assert dash.renders <= 4 and counted["writes"] == 1
        assert threading.get_ident() not in counted["fold_threads"]


async def test_monitor_reload_and_a_rewritten_file_start_from_scratch(tmp_path):
    import json

    from ft_tui.core.atomic import atomic_write_text

    run = write_long_run(tmp_path, 2_000)
    app = MonitorApp(RunDir.open(run.path), poll_every_s=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        dash = app.query_one(Dashboard)
        await wait_until(pilot, lambda: not dash.replaying and dash.finished is not None,
                         timeout_s=60)
        # A resume rewrites the file (a new inode) with the steps up to its checkpoint.
        kept = [line for line in run.metrics_path.read_text().splitlines()
                if json.loads(line).get("step", 0) <= 500 and json.loads(line)["type"] != "end"]
        atomic_write_text(run.metrics_path, "\n".join(kept) + "\n")
        await wait_until(pilot, lambda: dash.finished is None and not dash.replaying
                         and dash.step == 500, timeout_s=60)
        assert [s for s, _ in dash.train_points] == list(range(1, 501))
        assert "stopped" not in dash.banner_text
        await pilot.press("r")                              # reload: the same, read again
        await wait_until(pilot, lambda: not dash.replaying, timeout_s=60)
        assert [s for s, _ in dash.train_points] == list(range(1, 501))


class DashboardApp(App):
    def compose(self) -> ComposeResult:
        yield Dashboard(id="dashboard")


async def test_a_burst_of_live_events_costs_a_render_or_two_not_one_per_event():
    app = DashboardApp()
    async with app.run_test(size=(100, 30)) as pilot:
        dash = app.query_one(Dashboard)
        await pilot.pause()
        before = dash.renders
        dash.handle_event(RunStarted(run_dir="runs/x", total_steps=1000))
        for n in range(1, 1001):
            dash.handle_event(StepLog(step=n, loss=1.0 / n, total_steps=1000))
        await pilot.pause()
        assert dash.renders - before == 1
        assert str(app.query_one("#dash-step", Static).content) == "step 1000/1000"
        for n in range(1, 101):                 # more steps right after: the redraw timer
            dash.handle_event(StepLog(step=1000 + n, loss=0.001, total_steps=2000))
        assert dash.renders - before == 1
        await wait_until(pilot, lambda: dash.renders - before == 2, timeout_s=30)
        assert str(app.query_one("#dash-step", Static).content) == "step 1100/2000"


async def test_live_events_during_a_replay_are_shown_on_top_of_the_history(tmp_path):
    app = DashboardApp()
    release = threading.Event()

    def slow_read(state):
        release.wait(timeout=30)
        state.fold_all([RunStarted(run_dir="runs/x", total_steps=10)] +
                       [StepLog(step=n, loss=1.0, total_steps=10) for n in (1, 2, 3)])

    async with app.run_test(size=(100, 30)) as pilot:
        dash = app.query_one(Dashboard)
        dash.replay(slow_read)
        assert dash.replaying
        assert "reading the run's history" in str(app.query_one("#dash-stats", Static).content)
        dash.handle_event(RunStarted(run_dir="runs/x", total_steps=10, start_step=3))
        dash.handle_event(StepLog(step=4, loss=0.5, total_steps=10))
        release.set()
        await wait_until(pilot, lambda: not dash.replaying, timeout_s=30)
        assert [s for s, _ in dash.train_points] == [1, 2, 3, 4]
        # A reset (a new run) makes a replay still under way stale.
        dash.replay(slow_read)
        dash.reset()
        await pilot.pause(0.1)
        assert not dash.replaying and dash.train_points == []

"""Clocks and phase lines stay true: after a resume the ETA and elapsed time are this
session's (not frozen at the old last step), a run whose process is gone does not say
"training · ETA", and the monitor's header follows the dashboard's phase."""

import time
from pathlib import Path

import pytest
from textual.widgets import Static

from ft_tui.core.run.events import Phase
from ft_tui.tui.monitor import describe_status
from ft_tui.tui.widgets.dashboard import Dashboard
from tests.tui.test_dashboard import DashboardApp, started, step

pytestmark = pytest.mark.anyio


def eta_line(app) -> str:
    return str(app.query_one("#dash-eta", Static).content)


async def test_a_resumed_run_counts_from_its_new_start_not_the_old_last_step():
    app = DashboardApp()
    async with app.run_test(size=(120, 36)) as pilot:
        dash = app.query_one(Dashboard)
        dash.handle_event(started(), notify=False)        # the history: 4 steps, 8 s elapsed
        for n in range(1, 5):
            dash.handle_event(step(n), notify=False)
        dash.handle_event(Phase(step=4, phase="saving"), notify=False)
        resumed = started(start_step=4)
        resumed.time = time.time() - 125                  # loading took two minutes so far
        dash.handle_event(resumed)
        await pilot.pause()
        line = eta_line(app)
        assert line.startswith("training · ")             # not the old "saving"
        assert "elapsed 2m" in line and "ETA –" in line, line   # not 8s and 12s, frozen


async def test_a_run_whose_process_is_gone_says_interrupted_not_training():
    app = DashboardApp()
    async with app.run_test(size=(120, 36)) as pilot:
        dash = app.query_one(Dashboard)
        dash.handle_event(started(), notify=False)
        dash.handle_event(step(3), notify=False)
        dash.set_interrupted(True)
        await pilot.pause()
        line = eta_line(app)
        assert line.startswith("interrupted at step 3") and "ETA" not in line


def test_the_monitor_header_takes_the_dashboards_phase_over_a_stale_status():
    status = {"state": "running", "pid": None, "step": 12, "total_steps": 30,
              "message": "loading data"}
    line = describe_status(status, Path("runs/x"), phase="evaluating 3/32")
    assert "evaluating 3/32" in line and "loading data" not in line
    assert "loading data" in describe_status(status, Path("runs/x"))


async def test_the_metrics_line_is_not_cut_at_80_columns():
    app = DashboardApp()
    async with app.run_test(size=(80, 24)) as pilot:
        dash = app.query_one(Dashboard)
        dash.handle_event(started(), notify=False)
        dash.handle_event(step(3, padding_share=0.03), notify=False)
        await pilot.pause(0.3)
        stats = app.query_one("#dash-stats", Static)
        text = str(stats.content)
        assert text.endswith("memory: CPU") and stats.size.height * stats.size.width >= len(text)

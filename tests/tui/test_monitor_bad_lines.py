"""`ft-tui monitor` on a metrics.jsonl with well-formed but mistyped lines: the dashboard
shows the good ones and says how many it skipped, instead of a traceback."""

import pytest
from textual.widgets import Static

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.rundir import RunDir
from ft_tui.tui.monitor import MonitorApp
from ft_tui.tui.widgets.dashboard import Dashboard
from tests.test_run_robustness import MISTYPED, _write_mixed_metrics

pytestmark = pytest.mark.anyio


async def test_monitor_skips_mistyped_metrics_lines_and_says_how_many(tmp_path):
    run = RunDir.create(tmp_path / "runs", "r")
    run.save_config(RunConfig())
    _write_mixed_metrics(run, good_steps=(1, 2, 3))
    run.write_status("running", step=3, total_steps=4)
    app = MonitorApp(run)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        dash = app.query_one(Dashboard)
        assert [s for s, _ in dash.train_points] == [1, 1, 2, 3]   # the inf loss is kept
        status = str(app.query_one("#monitor-status", Static).content)
        assert f"{len(MISTYPED) - 1} unreadable lines in metrics.jsonl skipped" in status
        await pilot.press("q")
    assert app.return_value in (None, 0)

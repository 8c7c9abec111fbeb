"""`ft-tui monitor` on a metrics.jsonl with well-formed but mistyped lines: the dashboard
shows the good ones and says how many it skipped, instead of a traceback."""

import pytest
from textual.widgets import Static

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.rundir import RunDir
from ft_tui.tui.monitor import MonitorApp
from ft_tui.tui.widgets.dashboard import Dashboard
from tests.test_run_robustness import MISTYPED, _write_mixed_metrics
from tests.tui.test_train_step import wait_until

pytestmark = pytest.mark.anyio


async def test_monitor_skips_mistyped_metrics_lines_and_says_how_many(tmp_path):
    run = RunDir.create(tmp_path / "runs", "r")
    run.save_config(RunConfig())
    _write_mixed_metrics(run, good_steps=(1, 2, 3))
    run.write_status("running", step=3, total_steps=4)
    app = MonitorApp(run)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: not app.dashboard.replaying, timeout_s=30)  # a worker
        await pilot.pause()
        dash = app.query_one(Dashboard)
        assert [s for s, _ in dash.train_points] == [1, 1, 2, 3]   # the inf loss is kept
        status = str(app.query_one("#monitor-status", Static).content)
        assert f"{len(MISTYPED) - 1} unreadable lines in metrics.jsonl skipped" in status
        await pilot.press("q")
    assert app.return_value in (None, 0)


async def test_wizard_calls_a_run_whose_process_died_interrupted_and_offers_resume(
        tmp_path, monkeypatch):
    import json
    import subprocess
    import sys

    from textual.widgets import Button

    from ft_tui.tui.app import FtTuiApp
    from ft_tui.tui.state import WizardState
    from tests.tui.run_setup import write_replay_run

    monkeypatch.chdir(tmp_path)
    run = write_replay_run(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "state": "running", "pid": dead.pid}))
    state = WizardState.load(tmp_path / "ft-tui.yaml")
    state.current_step, state.run_dir = "train", "runs/demo"
    app = FtTuiApp(state=state)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        text = str(app.query_one("#train-status", Static).content)
        assert "(interrupted, step 18/30)" in text and "press r to resume" in text
        assert not app.query_one("#resume", Button).disabled

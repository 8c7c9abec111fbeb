"""Snapshots of the Train and Evaluate & Export steps and of `ft-tui monitor` at 100x30.

Regenerate after an intended change with
`python -m pytest tests/tui/test_snapshots_b.py --snapshot-update` and look at the SVGs.
Every path shown is relative to a temp working directory and no clock is on screen.
"""

import json

import pytest

from ft_tui.core.run.rundir import RunDir
from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.monitor import MonitorApp
from ft_tui.tui.state import WizardState
from tests.tui.run_setup import write_replay_run
from tests.tui.test_evaluate_step import hand_made_report

SIZE = (100, 30)


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def wizard_on(workdir, step: str, run_dir: str | None = None) -> FtTuiApp:
    state = WizardState.load(workdir / "ft-tui.yaml")
    state.current_step, state.run_dir = step, run_dir
    # A data path inside the working folder: the Train summary shows it relative to it.
    state.cfg = state.cfg.with_overrides({"data.train_path": "data/train.jsonl"})
    return FtTuiApp(state=state)


async def settle(pilot):
    await pilot.pause(0.6)   # the plots redraw on their 0.5 s timer


def test_train_step_before_any_run(workdir, snap_compare):
    assert snap_compare(wizard_on(workdir, "train"), terminal_size=SIZE, run_before=settle)


def test_train_step_showing_a_stopped_run(workdir, snap_compare):
    write_replay_run(workdir)
    app = wizard_on(workdir, "train", "runs/demo")
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_evaluate_step_with_a_report(workdir, snap_compare):
    run = workdir / "runs" / "r"
    run.mkdir(parents=True)
    (run / "eval.json").write_text(json.dumps(hand_made_report()))
    app = wizard_on(workdir, "evaluate", "runs/r")
    assert snap_compare(app, terminal_size=SIZE, press=["down"])


def test_monitor_on_a_stopped_run(workdir, snap_compare):
    run = write_replay_run(workdir)
    assert snap_compare(MonitorApp(RunDir.open(run.relative_to(workdir))), terminal_size=SIZE,
                        run_before=settle)

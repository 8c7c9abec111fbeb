"""Snapshots at 80x24, the smallest terminal the wizard is made for: the Configure filter
and the Evaluate table.

Regenerate after an intended change with
`python -m pytest tests/tui/test_snapshots_80x24.py --snapshot-update` and look at the SVGs.
"""

import json

import pytest

from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.state import WizardState

SIZE = (80, 24)


def test_configure_filter_finds_the_step_settings(tmp_path, monkeypatch, snap_compare):
    monkeypatch.chdir(tmp_path)
    app = FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))
    assert snap_compare(app, press=["4", "slash", *"steps"], terminal_size=SIZE)


def test_evaluate_table_at_80_columns(tmp_path, monkeypatch, snap_compare):
    from tests.tui.test_evaluate_step import hand_made_report

    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    report = hand_made_report()
    report["examples"] = [dict(example, line=i + 1)   # more rows than fit: the table scrolls
                          for i, example in enumerate(report["examples"] * 4)]
    (run / "eval.json").write_text(json.dumps(report))
    state = WizardState.load(tmp_path / "ft-tui.yaml")
    state.current_step, state.run_dir = "evaluate", "runs/r"   # relative: the same on every machine
    assert snap_compare(FtTuiApp(state=state), terminal_size=SIZE)

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

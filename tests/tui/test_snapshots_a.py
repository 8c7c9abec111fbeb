"""Snapshots of the shell and the Decide, Data, Hardware and Configure steps at 100x30.

Regenerate after an intended change with
`python -m pytest tests/tui/test_snapshots_a.py --snapshot-update` and look at the SVGs.
Machine-dependent parts (the hardware probe) are replaced by fixed values.
"""

import pytest

from ft_tui.tui.app import FtTuiApp

SIZE = (100, 30)


@pytest.fixture()
def app(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))


def test_shell_opens_on_the_first_question(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE)


def test_decide_verdict_for_a_knowledge_gap(app, snap_compare):
    assert snap_compare(app, press=["n", "y"], terminal_size=SIZE)


def test_decide_verdict_fine_tune(app, snap_compare):
    assert snap_compare(app, press=["n", "n", "y", "n", "n", "y"], terminal_size=SIZE)


def test_configure_form(app, snap_compare):
    assert snap_compare(app, press=["4"], terminal_size=SIZE)


def test_configure_with_a_refused_value(app, snap_compare):
    async def type_bad_rate(pilot):
        await pilot.press("4")
        step = pilot.app.query_one("#configure")
        step.query_one("#cfg-data--max_length").value = "8"   # below the minimum of 32
        await pilot.pause()
        step.query_one("#config-form").scroll_to_widget(
            step.query_one("#cfg-data--max_length-field"), animate=False, top=True)
        await pilot.pause()

    assert snap_compare(app, run_before=type_bad_rate, terminal_size=SIZE)


def test_help_modal(app, snap_compare):
    assert snap_compare(app, press=["question_mark"], terminal_size=SIZE)

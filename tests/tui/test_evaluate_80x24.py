"""Evaluate at 80x24: the progress line keeps its speed on screen and its clock moving."""

import time

import pytest
from textual.widgets import Static

from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.state import WizardState
from ft_tui.tui.steps.evaluate import EvalProgress, EvaluateStep
from tests.tui.render_text import plain

pytestmark = pytest.mark.anyio


async def test_the_progress_line_fits_80_columns_with_its_speed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = WizardState.load(tmp_path / "ft-tui.yaml")
    state.current_step = "evaluate"
    app = FtTuiApp(state=state)
    async with app.run_test(size=(80, 24)) as pilot:
        step = app.query_one(EvaluateStep)
        step._evaluating, step._started = True, time.monotonic()   # as action_evaluate does
        step.query_one("#eval-progress-row").set_class(True, "-busy")
        step.post_message(EvalProgress(40, 100, "finetuned", 1234.5))
        await pilot.pause()
        phase = step.query_one("#eval-phase", Static)
        text = plain(phase).strip()
        assert "tuned answering 40/100 · 1,234 tok/s" in text and text.endswith(" · 0s")
        assert len(text) <= phase.size.width and phase.region.right <= 80

"""At 80x24 every dashboard pane is reachable: `z` shows each full screen in turn."""

import pytest

from ft_tui.core.run.events import PreferenceLog, RunStarted, StepLog
from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.steps.train import TrainStep

pytestmark = pytest.mark.anyio


def _on_screen(widget, height=24) -> bool:
    region = widget.region
    return region.height > 0 and region.y + region.height <= height


async def test_z_brings_every_pane_of_a_dpo_run_on_screen_at_80x24(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        dash = app.query_one(TrainStep).dashboard
        dash.handle_event(RunStarted("runs/x", 30, method="lora", device="cpu"))
        for step in range(1, 6):
            dash.handle_event(StepLog(step, 1.0 / step, learning_rate=1e-4, total_steps=30))
            dash.handle_event(PreferenceLog(step, margin=0.1 * step, accuracy=0.6, chosen=0.1,
                                            rejected=-0.1))
        await pilot.pause(0.7)          # the dashboard follows its state on a timer
        log = dash.query_one("#dash-log")
        assert not _on_screen(log)      # the DPO panel pushes the log below the fold

        seen = []
        for _ in range(5):
            await pilot.press("z")
            await pilot.pause()
            zoomed = app.screen.maximized
            assert zoomed is not None and _on_screen(zoomed) and zoomed.region.width == 80
            seen.append(zoomed.id)
        assert seen == ["loss-plot", "lr-plot", "dash-preference", "dash-log", "dash-samples-box"]
        await pilot.press("z")          # after the last pane: the whole dashboard again
        assert app.screen.maximized is None

        await pilot.press("z", "escape")
        assert app.screen.maximized is None
        shown = {b.binding.key: b.binding.description for b in app.screen.active_bindings.values()
                 if b.binding.show}
        assert shown.get("z") == "Zoom" and "q" in shown and "question_mark" in shown

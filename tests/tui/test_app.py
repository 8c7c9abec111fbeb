"""The wizard shell: step navigation, saved progress, help, palette, quitting, and a
light import."""

import json
import subprocess
import sys

import pytest
from textual.widgets import ContentSwitcher

from ft_tui.core.config.settings import RunConfig
from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.messages import ConfigChanged, StepCompleted
from ft_tui.tui.screens.help_modal import HelpModal
from ft_tui.tui.widgets.stepper import Stepper

pytestmark = pytest.mark.anyio  # async tests run on asyncio through anyio's plugin

HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "bitsandbytes")


@pytest.fixture()
def config_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path / "ft-tui.yaml"


def test_app_module_imports_no_heavy_library():
    code = ("import sys, ft_tui.tui.app\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_number_keys_jump_to_steps_and_progress_survives_a_restart(config_path):
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        assert app.query_one(ContentSwitcher).current == "decide"
        await pilot.press("4")
        assert app.query_one(ContentSwitcher).current == "configure"
        assert app.query_one(Stepper).current == "configure"
        await pilot.press("escape", "2")
        assert app.query_one(ContentSwitcher).current == "data"
    saved = json.loads(config_path.with_name("ft-tui.wizard.json").read_text())
    assert saved["current_step"] == "data"

    reopened = FtTuiApp(config_path=str(config_path))
    async with reopened.run_test(size=(120, 36)):
        assert reopened.query_one(ContentSwitcher).current == "data"


async def test_a_steps_keys_work_while_nothing_has_the_focus(config_path):
    # While a run stops, every Train button is disabled for a moment and the focus is
    # nowhere; a key pressed then must still reach the step, not vanish.
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        app.screen.set_focus(None)
        await pilot.press("e")                       # Train's "Evaluate" key
        assert app.query_one(ContentSwitcher).current == "evaluate"


async def test_step_completed_marks_the_step_done_in_stepper_and_saved_state(config_path):
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        app.query_one("#decide").post_message(StepCompleted("decide"))
        await pilot.pause()
        assert "decide" in app.state.completed
        stepper = app.query_one(Stepper)
        assert stepper.mark("decide") == "▶"  # still on it
        await pilot.press("2")
        assert stepper.mark("decide") == "✓" and stepper.mark("data") == "▶"
        assert stepper.mark("train") == "·"
    saved = json.loads(config_path.with_name("ft-tui.wizard.json").read_text())
    assert saved["completed"] == ["decide"]


async def test_config_change_is_saved_and_forwarded_to_every_step(config_path):
    seen = []
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36), message_hook=seen.append) as pilot:
        await pilot.press("4", "1")   # visit Configure, so two views are mounted
        app.state.cfg = app.state.cfg.with_overrides({"training.max_steps": 7})
        app.query_one("#configure").post_message(ConfigChanged())
        await pilot.pause()
    assert RunConfig.load(config_path).training.max_steps == 7
    forwarded = [m for m in seen if isinstance(m, ConfigChanged) and m.forwarded]
    assert len(forwarded) == 2   # one copy per mounted step view, none bouncing back


async def test_question_mark_shows_the_current_steps_help_and_escape_closes_it(config_path):
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4", "escape", "question_mark")
        assert isinstance(app.screen, HelpModal)
        assert "Presets" in app.screen.markdown  # the Configure step's HELP
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpModal)


async def test_palette_offers_every_step(config_path):
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {f"Step {n}: " for n in range(1, 7)} <= {t[:8] for t in commands}
        app.call_later(commands["Step 4: Configure"].callback)  # as the palette runs it
        await pilot.pause()
        await pilot.pause()
        assert app.query_one(ContentSwitcher).current == "configure"


async def test_q_quits_and_saves(config_path):
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("q")
    assert app.return_value == 0
    assert config_path.exists()


async def test_an_unreadable_config_is_reported_and_never_overwritten(config_path):
    config_path.write_text("training:\n  learning_rate: lots\n")
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert any("could not be read" in n.message for n in app._notifications)
        app.query_one("#decide").post_message(ConfigChanged())
        await pilot.press("q")
    assert "lots" in config_path.read_text()


async def test_quitting_during_training_asks_first(config_path, monkeypatch):
    from ft_tui.tui.steps.train import TrainStep
    from ft_tui.tui.screens.confirm import ConfirmModal

    monkeypatch.setattr(TrainStep, "is_running", property(lambda self: True))
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")            # no: keep training
        assert not isinstance(app.screen, ConfirmModal)
        assert app.is_running
        await pilot.press("ctrl+q", "y")
    assert app.return_value == 0

"""Keys act only on the step that is shown (issue: under lag, `b` typed on Data sent the
hidden Decide step back). Keys typed ahead while a step opens wait for it; a worker that
finishes on a step the user has left does not pull the focus (and the footer) back."""

import json
import threading

import pytest
from textual import events
from textual.widgets import ContentSwitcher

from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.screens.file_picker import FilePicker
from ft_tui.tui.state import WizardState
from ft_tui.tui.steps.decide import DecideStep
from tests.tui.test_evaluate_step import hand_made_report

pytestmark = pytest.mark.anyio


def type_ahead(app: FtTuiApp, *keys: str) -> None:
    """Keys queued all at once, as a lagging terminal delivers them."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


async def settle(pilot, rounds: int = 6) -> None:
    for _ in range(rounds):
        await pilot.pause()


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def test_keys_typed_while_data_opens_act_on_data_not_on_the_hidden_decide(workdir):
    app = FtTuiApp(config_path=str(workdir / "ft-tui.yaml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "n", "y", "n", "n", "y")
        decide = app.query_one(DecideStep)
        assert decide.walk.verdict is not None
        type_ahead(app, "c", "o")       # continue, then Data's "browse" before Data is drawn
        await settle(pilot)
        assert app.query_one(ContentSwitcher).current == "data"
        assert isinstance(app.screen, FilePicker)        # `o` reached the Data step
        type_ahead(app, "escape", "b")  # close the browser; `b` is not a Data key
        await settle(pilot)
        assert decide.walk.verdict is not None           # the hidden Decide kept its verdict
        focused = app.screen.focused
        assert focused is not None and app.query_one("#data") in focused.ancestors
        keys = {b.binding.key for b in app.screen.active_bindings.values()}
        assert "o" in keys and "y" not in keys           # the footer shows Data's keys


async def test_a_worker_ending_on_a_left_step_does_not_take_the_focus_back(workdir, monkeypatch):
    run = workdir / "runs" / "r"
    (run / "adapter").mkdir(parents=True)
    release = threading.Event()

    def slow_evaluation(path, **kwargs):
        release.wait(30)

        class Report:
            def to_dict(self):
                return hand_made_report()
        return Report()

    monkeypatch.setattr("ft_tui.core.evaluate.run.evaluate_run", slow_evaluation)
    state = WizardState.load(workdir / "ft-tui.yaml")
    state.current_step, state.run_dir = "evaluate", str(run)
    app = FtTuiApp(state=state)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")                           # the evaluation worker starts
        await pilot.press("1")                           # the user goes to Decide meanwhile
        await settle(pilot)
        release.set()
        evaluate = app.step_view("evaluate")
        for _ in range(200):
            if evaluate.report is not None:
                break
            await pilot.pause(0.05)
        assert evaluate.report is not None              # the worker has ended
        await settle(pilot)
        assert app.query_one(ContentSwitcher).current == "decide"
        focused = app.screen.focused
        assert focused is None or app.query_one("#decide") in focused.ancestors
        await pilot.press("y")                           # Decide's key still answers Q1
        assert app.query_one(DecideStep).walk.answers
        await pilot.press("a")                           # not Evaluate's "export adapter"
        assert app.query_one(ContentSwitcher).current == "decide"
        assert not (run / "export").exists()


async def test_a_setting_name_typed_ahead_after_slash_lands_in_the_filter(workdir):
    # Under lag "/" and the letters arrive together: before, the letters reached the old
    # focus (lost, or a step key such as `c` continued to Train).
    app = FtTuiApp(config_path=str(workdir / "ft-tui.yaml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        type_ahead(app, "slash", *"rank", "c")
        await settle(pilot)
        assert app.query_one("#cfg-filter").value == "rankc"
        assert app.query_one(ContentSwitcher).current == "configure"

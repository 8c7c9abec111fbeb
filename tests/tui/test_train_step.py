"""The Train step with the real TrainingRunner on the tiny random model."""

import asyncio
import json
import threading

import pytest
from textual.widgets import Button

from ft_tui.core.run.events import Checkpoint, EvalLog, Phase, RunFinished, StepLog
from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.messages import StepCompleted
from ft_tui.tui.steps.train import TrainStep
from ft_tui.tui.screens.confirm import ConfirmModal
from ft_tui.tui.widgets.dashboard import Dashboard, TrainingEvent
from tests.tui.run_setup import tiny_training_state

pytestmark = pytest.mark.anyio


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def trainer_events(messages, kind):
    return [m.event for m in messages if isinstance(m, TrainingEvent) and isinstance(m.event, kind)]


@pytest.fixture()
def hold_at_step_2(monkeypatch):
    """Hold the training thread after step 2 until the test sets the returned event, so a
    Stop or Quit pressed meanwhile surely lands before the run ends."""
    gate = threading.Event()
    post = TrainStep._post_from_trainer

    def post_then_wait(self, event):
        post(self, event)
        if isinstance(event, StepLog) and event.step == 2:
            # No short timeout: under load the test may take long to press its keys, and
            # a released gate would let the run go past the step the test expects.
            gate.wait(timeout=600)

    monkeypatch.setattr(TrainStep, "_post_from_trainer", post_then_wait)
    yield gate
    gate.set()


async def wait_until(pilot, condition, timeout_s=600.0):
    """Let the app run until ``condition()`` holds (a training step is seconds, not fixed)."""
    waited = 0.0
    while not condition():
        assert waited < timeout_s, "condition not reached"
        await pilot.pause(0.05)
        waited += 0.05


async def test_start_trains_to_the_end_and_fills_the_dashboard(workdir, tiny_model_dir,
                                                               hold_at_step_2):
    state = tiny_training_state(workdir, tiny_model_dir)
    app = FtTuiApp(state=state)
    messages = []
    async with app.run_test(size=(120, 36), message_hook=messages.append) as pilot:
        step = app.query_one(TrainStep)
        assert not step.is_running
        await pilot.press("s")
        assert step.is_running
        # The keys answer while the worker imports torch and trains: leave and come back.
        await pilot.press("4")
        assert app.state.current_step == "configure" and step.is_running
        await pilot.press("5")
        assert app.state.current_step == "train"
        hold_at_step_2.set()              # the run could not end while we moved around
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not step.is_running

        logs = trainer_events(messages, StepLog)
        assert [e.step for e in logs] == [1, 2, 3, 4, 5, 6]
        finished = trainer_events(messages, RunFinished)
        assert [f.state for f in finished] == ["done"]
        dash = app.query_one(Dashboard)
        assert [s for s, _ in dash.train_points] == [1, 2, 3, 4, 5, 6]
        assert len(dash.lr_points) == 6 and [s for s, _ in dash.eval_points] == [2, 4, 6]
        assert dash.finished.state == "done"
        assert any(isinstance(m, StepCompleted) and m.step_id == "train" for m in messages)
        assert "train" in app.state.completed
        run_dir = workdir / "runs" / "tiny"
        assert app.state.run_dir == str(run_dir)
        assert (run_dir / "adapter" / "adapter_config.json").is_file()
        assert not app.query_one("#evaluate", Button).disabled
        await pilot.press("e")
        assert app.state.current_step == "evaluate"


async def test_stop_asks_then_stops_gracefully_and_resume_finishes(workdir, tiny_model_dir,
                                                                  hold_at_step_2):
    state = tiny_training_state(workdir, tiny_model_dir, **{"training.max_steps": 8})
    app = FtTuiApp(state=state)
    messages = []
    async with app.run_test(size=(120, 36), message_hook=messages.append) as pilot:
        step = app.query_one(TrainStep)
        dash = app.query_one(Dashboard)
        await pilot.press("s")
        await wait_until(pilot, lambda: len(dash.train_points) == 2)

        await pilot.press("x")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")                      # changed my mind: keeps training
        assert step.is_running and not isinstance(app.screen, ConfirmModal)
        await pilot.press("x")
        await pilot.press("y")
        hold_at_step_2.set()
        await app.workers.wait_for_complete()
        await pilot.pause()

        run_dir = workdir / "runs" / "tiny"
        status = json.loads((run_dir / "status.json").read_text())
        assert status["state"] == "stopped"
        stopped_at = status["step"]
        assert stopped_at == 2               # the step the user saw when asking
        assert (run_dir / "checkpoints" / f"checkpoint-{stopped_at}").is_dir()
        # Step 2 was an evaluation step: a stop does not wait for that evaluation.
        assert [e.step for e in trainer_events(messages, EvalLog)] == []
        assert [e.step for e in trainer_events(messages, Checkpoint)] == [2]
        assert trainer_events(messages, RunFinished)[-1].state == "stopped"
        assert not app.query_one("#resume", Button).disabled
        assert "train" not in app.state.completed

        await pilot.press("r")
        # (the six tiny steps left may already be done by the time the key is handled)
        assert step.is_running or step.status_text.startswith("Run done")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
        # The curve goes on from the checkpoint without a gap or a repeated step.
        assert [s for s, _ in dash.train_points] == list(range(1, 9))
        assert "train" in app.state.completed


async def wait_for_exit(app, timeout_s=600.0):
    waited = 0.0
    while app.return_value is None:
        assert waited < timeout_s, "the app did not exit"
        await asyncio.sleep(0.05)
        waited += 0.05


async def test_quitting_during_a_run_asks_then_says_it_saves_and_exits(workdir, tiny_model_dir,
                                                                       hold_at_step_2):
    state = tiny_training_state(workdir, tiny_model_dir, **{"training.max_steps": 8})
    app = FtTuiApp(state=state)
    messages = []
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        step = app.query_one(TrainStep)
        await pilot.press("s")
        await wait_until(pilot, lambda: len(app.query_one(Dashboard).train_points) == 2)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        assert app.is_running and step.is_running
        # While it trains, the keys answer at once: switch steps and come back.
        await pilot.press("4")
        assert app.state.current_step == "configure"
        await pilot.press("q", "y")               # quit: the run stops at its next step
        await pilot.pause()
        # The wizard stays on screen, on the Train step, and says what it is doing.
        assert app.return_value is None and app.state.current_step == "train"
        assert "saving a checkpoint" in step.status_text
        assert "q again" in step.status_text
        hold_at_step_2.set()
        await wait_for_exit(app)
    assert app.return_value == 0 and not app.training_abandoned
    status = json.loads((workdir / "runs" / "tiny" / "status.json").read_text())
    assert status["state"] == "stopped" and status["step"] == 2
    assert [e.step for e in trainer_events(messages, EvalLog)] == []
    assert any(isinstance(e, Phase) and e.phase == "saving"
               for e in trainer_events(messages, Phase))


async def test_second_quit_while_saving_offers_to_exit_without_waiting(workdir, tiny_model_dir,
                                                                       hold_at_step_2):
    state = tiny_training_state(workdir, tiny_model_dir, **{"training.max_steps": 8})
    app = FtTuiApp(state=state)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: len(app.query_one(Dashboard).train_points) == 2)
        await pilot.press("q", "y")
        await pilot.pause()
        await pilot.press("q")                     # the checkpoint is not written yet
        assert isinstance(app.screen, ConfirmModal)
        assert "without waiting" in app.screen.question
        assert "no checkpoint was saved yet" in app.screen.question   # what would be lost
        await pilot.press("y")
        await wait_for_exit(app)
        assert app.training_abandoned
        assert json.loads((workdir / "runs" / "tiny" / "status.json").read_text())["state"] == "running"
        hold_at_step_2.set()
        await app.workers.wait_for_complete()


async def test_the_wizard_trains_with_the_launch_planners_processes(workdir, tiny_model_dir,
                                                                    monkeypatch):
    """When the planner says several processes (here: 2 CPU processes with gloo, as the
    CLI test does), the Train step launches them through accelerate like `ft-tui train`,
    instead of training in one process."""
    import functools

    from ft_tui.core.run.events import RunStarted
    from ft_tui.core.training import session

    monkeypatch.setattr(session, "start_run",
                        functools.partial(session.start_run, num_processes=2, force_cpu=True))
    state = tiny_training_state(workdir, tiny_model_dir, **{"training.max_steps": 4,
                                                            "training.sample_every_steps": 0})
    app = FtTuiApp(state=state)
    messages = []
    async with app.run_test(size=(120, 36), message_hook=messages.append) as pilot:
        step = app.query_one(TrainStep)
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        run_dir = workdir / "runs" / "tiny"
        log = (run_dir / "worker.log").read_text() if (run_dir / "worker.log").exists() else ""
        finished = trainer_events(messages, RunFinished)
        assert [f.state for f in finished] == ["done"], log[-2000:]
        assert step.runner.distributed and step.runner.plan.num_processes == 2
        starts = trainer_events(messages, RunStarted)
        assert len(starts) == 1                                  # rank 0 alone reports
        assert [e.step for e in trainer_events(messages, StepLog)] == [1, 2, 3, 4]
        assert (run_dir / "adapter" / "adapter_config.json").is_file()
        assert "train" in app.state.completed


async def test_summary_shows_the_full_train_and_eval_data_paths(workdir):
    from ft_tui.tui.state import WizardState
    from tests.tui.render_text import plain

    for folder in ("tickets", "other"):
        (workdir / folder).mkdir()
        (workdir / folder / "data.jsonl").write_text("{}\n")
    state = WizardState.load(workdir / "ft-tui.yaml")
    state.cfg = state.cfg.with_overrides({"data.train_path": "tickets/data.jsonl",
                                          "data.eval_path": "other/data.jsonl"})
    state.current_step = "train"
    app = FtTuiApp(state=state)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        summary = plain(app.query_one("#train-summary"), width=200)
        assert "train data: tickets/data.jsonl\n" in summary     # the folder too, not the name
        assert "eval data:  other/data.jsonl\n" in summary
        app.state.cfg = app.state.cfg.with_overrides({"data.train_path": str(workdir.parent)})
        app.query_one(TrainStep).on_show_step()
        summary = plain(app.query_one("#train-summary"), width=200)
        assert f"train data: {workdir.parent}\n" in summary     # outside it: absolute
        app.state.cfg = app.state.cfg.with_overrides({"data.eval_path": ""})
        app.query_one(TrainStep).on_show_step()
        summary = plain(app.query_one("#train-summary"), width=200)
        assert "eval data:  10% split off the training data" in summary
        assert summary.startswith("lora r=16 on ")
        app.state.cfg = app.state.cfg.with_overrides({"objective": "dpo"})
        app.query_one(TrainStep).on_show_step()
        summary = plain(app.query_one("#train-summary"), width=200)
        assert summary.startswith("DPO (beta 0.1), lora r=16 on ")   # what is trained, first


@pytest.mark.real_preflight
async def test_the_train_step_shows_the_preflight_before_start(workdir, tiny_model_dir):
    """Before Start, the step says what `ft-tui train --dry-run` says: the device, the
    precision, and the estimate against this machine's free memory; a run that cannot fit
    says so with the planner's fix, before anything loads."""
    state = tiny_training_state(workdir, tiny_model_dir)
    app = FtTuiApp(state=state)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await pilot.press("5")
        await app.workers.wait_for_complete()
        await pilot.pause()
        line = str(app.query_one("#train-preflight").content)
        assert line.startswith("Preflight: CPU") and "needs ~" in line and line.endswith("fits")
        assert not app.query_one(TrainStep).is_running        # nothing was started

        app.state.cfg = app.state.cfg.with_overrides({"training.batch_size": 1024,
                                                      "data.max_length": 32768})
        await pilot.press("4")
        await pilot.press("5")
        await app.workers.wait_for_complete()
        await pilot.pause()
        line = str(app.query_one("#train-preflight").content)
        assert "DOES NOT FIT" in line

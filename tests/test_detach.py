"""Training that outlives its starter: the trainer runs in its own session (setsid), so the
SIGHUP of a closed terminal never reaches it; its starter only follows the run directory.
Proven on the tiny model with real processes."""

import os
import threading

import pytest

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.events import RunFinished, StepLog
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training.detach import TRAIN_LOG, DetachedRun, start_detached
from tests.test_training_runner import write_data


def tiny_cfg(tmp_path, model_dir, max_steps, name="bg"):
    data = write_data(tmp_path / "train.jsonl", n=32)
    return RunConfig().with_overrides({
        "model.name": str(model_dir), "data.train_path": str(data), "data.eval_fraction": 0.25,
        "training.max_steps": max_steps, "training.batch_size": 2,
        "training.gradient_accumulation": 1, "training.eval_steps": 3, "training.save_steps": 3,
        "training.sample_every_steps": 0, "output_dir": str(tmp_path / "runs"), "run_name": name})


def test_a_detached_run_is_in_its_own_session_and_trains_to_the_end(tiny_model_dir, tmp_path):
    run = start_detached(tiny_cfg(tmp_path, tiny_model_dir, max_steps=4))
    # setsid: no controlling terminal, another process group, so a hang-up of ours is not its
    assert os.getsid(run.pid) == run.pid and os.getsid(run.pid) != os.getsid(0)
    seen = []
    finished = run.follow(seen.append)
    assert finished.state == "done", (run.run_dir.path / TRAIN_LOG).read_text()[-2000:]
    assert [e.step for e in seen if isinstance(e, StepLog)] == [1, 2, 3, 4]
    assert isinstance(seen[-1], RunFinished)
    assert (run.run_dir.adapter_dir / "adapter_config.json").is_file()
    assert run.run_dir.read_status()["state"] == "done"
    assert "done: finished 4 steps" in (run.run_dir.path / TRAIN_LOG).read_text()


@pytest.mark.slow  # two trainer processes start: ~20 s each on 2 cores
def test_stop_reaches_the_detached_trainer_through_the_stop_file(tiny_model_dir, tmp_path):
    run = start_detached(tiny_cfg(tmp_path, tiny_model_dir, max_steps=400))

    def stop_at_first_step(event):
        if isinstance(event, StepLog) and event.step == 1:
            run.request_stop()

    finished = run.follow(stop_at_first_step)
    assert finished.state == "stopped", (run.run_dir.path / TRAIN_LOG).read_text()[-2000:]
    assert run.run_dir.latest_checkpoint() is not None       # a checkpoint first
    assert run.run_dir.read_status()["state"] == "stopped"
    assert not (run.run_dir.path / "STOP").exists()


@pytest.mark.slow
def test_a_client_that_leaves_and_one_that_attaches_later(tiny_model_dir, tmp_path):
    """The starter leaves (as a wizard whose terminal closed); a second client attaches
    to the live run by its directory and sees it to the end."""
    run = start_detached(tiny_cfg(tmp_path, tiny_model_dir, max_steps=400))
    leave = threading.Event()
    first = []

    def leave_at_step_1(event):
        first.append(event)
        if isinstance(event, StepLog):
            leave.set()

    assert run.follow(leave_at_step_1, leave) is None
    again = DetachedRun.attach(RunDir(run.run_dir.path))
    assert again is not None and again.pid == run.pid
    again.request_stop()
    later = []
    finished = again.follow(later.append)
    assert finished.state == "stopped"
    # the second client read the whole history, from the first step on
    assert [e.step for e in later if isinstance(e, StepLog)][0] == 1
    assert DetachedRun.attach(RunDir(run.run_dir.path)) is None   # not live any more

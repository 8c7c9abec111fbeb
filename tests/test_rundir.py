"""Run directory: atomic status, metrics that survive partial lines, checkpoint discovery."""

import json
import os

import pytest

from ft_tui.core.atomic import atomic_dir, atomic_write_text
from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.events import EvalLog, RunFinished, StepLog, event_from_dict
from ft_tui.core.objectives import default_run_name
from ft_tui.core.run.rundir import RunDir, RunDirError


def test_create_never_reuses_a_directory(tmp_path):
    a = RunDir.create(tmp_path, "run")
    b = RunDir.create(tmp_path, "run")
    assert a.path != b.path and b.path.name == "run-2"


def test_status_and_config(tmp_path):
    rd = RunDir.create(tmp_path, "r")
    assert rd.read_status()["state"] == "created"
    rd.save_config(RunConfig())
    rd.write_status("running", step=3, total_steps=10)
    rd.write_status("stopped")
    status = rd.read_status()
    assert status["state"] == "stopped" and status["step"] == 3 and status["pid"] == os.getpid()
    assert RunDir.open(rd.path).load_config() == RunConfig()
    with pytest.raises(ValueError):
        rd.write_status("exploded")


def test_open_rejects_non_run_dirs(tmp_path):
    with pytest.raises(RunDirError, match="no such run directory"):
        RunDir.open(tmp_path / "missing")
    with pytest.raises(RunDirError, match="not a run directory"):
        RunDir.open(tmp_path)


def test_metrics_round_trip_and_partial_last_line(tmp_path):
    rd = RunDir.create(tmp_path, "r")
    rd.append_event(StepLog(step=1, loss=2.5, learning_rate=1e-4))
    rd.append_event(EvalLog(step=1, eval_loss=2.7))
    rd.append_event(RunFinished(state="done", step=1))
    with open(rd.metrics_path, "a") as fh:
        fh.write('{"type": "log", "step": 2, "lo')  # a writer caught mid-line
    events = rd.read_events()
    assert [type(e).__name__ for e in events] == ["StepLog", "EvalLog", "RunFinished"]
    assert events[0].loss == 2.5
    first = json.loads(rd.metrics_path.read_text().splitlines()[0])
    assert first["type"] == "log" and first["step"] == 1 and first["loss"] == 2.5


def test_unknown_events_are_ignored():
    assert event_from_dict({"type": "future-thing", "step": 1}) is None
    assert event_from_dict({"type": "log", "step": 1}) is None  # missing loss
    ev = event_from_dict({"type": "log", "step": 1, "loss": 1.0, "new_field": 3})
    assert isinstance(ev, StepLog)


def test_latest_checkpoint_ignores_incomplete_ones(tmp_path):
    rd = RunDir.create(tmp_path, "r")
    for step, complete in ((10, True), (20, True), (30, False)):
        d = rd.checkpoints_dir / f"checkpoint-{step}"
        d.mkdir(parents=True)
        if complete:
            (d / "trainer_state.json").write_text("{}")
    assert rd.latest_checkpoint().name == "checkpoint-20"


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_atomic_dir_replaces_the_folder_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "export" / "merged"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("one")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "weights").write_text("half-written")
            raise RuntimeError("killed mid-export")
    assert (target / "weights").read_text() == "one"      # the old folder is intact
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("two")
    assert (target / "weights").read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["merged"]   # no temp or old folders


def test_atomic_dir_without_replace_keeps_the_first_writers_folder(tmp_path):
    target = tmp_path / "cache" / "model"
    with atomic_dir(target, replace=False) as tmp:
        (tmp / "config.json").write_text("first")
    with atomic_dir(target, replace=False) as tmp:   # e.g. a second process converting too
        (tmp / "config.json").write_text("second")
    assert (target / "config.json").read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["model"]


def test_default_run_name_mentions_method_and_model():
    name = default_run_name(RunConfig())
    assert name.startswith("lora-")

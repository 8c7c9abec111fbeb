"""`ft-tui monitor`: replaying a finished run, following a growing one, bad paths."""

import json
import subprocess
import sys
import time

import pytest
from textual.widgets import Static

from ft_tui.cli import main as cli_main
from ft_tui.core.atomic import atomic_write_text
from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.run.follow import JsonlFollower
from ft_tui.tui.monitor import MonitorApp, run_monitor
from ft_tui.tui.widgets.dashboard import Dashboard
from tests.tui.run_setup import tiny_training_state
from tests.tui.test_train_step import wait_until

pytestmark = pytest.mark.anyio


def log(step, loss, total=4):
    return {"type": "log", "step": step, "loss": loss, "learning_rate": 1e-4, "total_steps": total}


@pytest.fixture()
def run_dir(tmp_path) -> RunDir:
    run = RunDir.create(tmp_path / "runs", "r")
    run.save_config(RunConfig())
    run.append_event({"type": "start", "run_dir": str(run.path), "total_steps": 4, "method": "lora"})
    return run


async def test_replays_a_finished_run(run_dir):
    for step in range(1, 5):
        run_dir.append_event(log(step, 2.0 - step / 10))
    run_dir.append_event({"type": "eval", "step": 4, "eval_loss": 1.8})
    run_dir.append_event({"type": "end", "state": "done", "step": 4, "message": "finished 4 steps"})
    run_dir.write_status("done", step=4, total_steps=4, message="finished 4 steps")
    app = MonitorApp(run_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: not app.dashboard.replaying, timeout_s=30)  # a worker
        await pilot.pause()
        dash = app.query_one(Dashboard)
        assert [s for s, _ in dash.train_points] == [1, 2, 3, 4]
        assert dash.eval_points == [(4, 1.8)]
        assert dash.finished.state == "done" and "finished 4 steps" in dash.banner_text
        assert str(app.query_one("#monitor-status", Static).content).startswith("done · step 4/4")


async def test_follows_new_lines_waits_for_partial_ones_and_rereads_a_rewrite(run_dir):
    run_dir.append_event(log(1, 2.0))
    run_dir.write_status("running", step=1, total_steps=4)
    app = MonitorApp(run_dir, poll_every_s=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        dash = app.query_one(Dashboard)
        await wait_until(pilot, lambda: len(dash.train_points) == 1, timeout_s=10)

        run_dir.append_event(log(2, 1.9))
        with open(run_dir.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(log(3, 1.8))[:20])        # the writer is mid-line
        await wait_until(pilot, lambda: len(dash.train_points) == 2, timeout_s=10)
        await pilot.pause(0.2)
        assert [s for s, _ in dash.train_points] == [1, 2]
        with open(run_dir.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(log(3, 1.8))[20:] + "\n")
        await wait_until(pilot, lambda: len(dash.train_points) == 3, timeout_s=10)

        # A resume rewrites the file (atomically: a new file) with fewer steps.
        lines = [json.dumps(d) for d in run_dir.iter_metric_dicts() if d.get("step", 0) <= 1]
        atomic_write_text(run_dir.metrics_path, "\n".join(lines) + "\n")
        await wait_until(pilot, lambda: len(dash.train_points) == 1, timeout_s=10)
        run_dir.append_event({"type": "start", "run_dir": str(run_dir.path), "total_steps": 4,
                              "start_step": 1})
        run_dir.append_event(log(2, 1.7))
        await wait_until(pilot, lambda: [s for s, _ in dash.train_points] == [1, 2], timeout_s=10)
        assert dash.train_points[-1] == (2, 1.7)


def test_follower_reads_only_complete_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    follower = JsonlFollower(path)
    assert follower.poll() == (False, [])                   # no file yet
    path.write_text('{"type": "log", "step": 1, "loss": 1}\nnot json\n{"type": "lo')
    rewound, records = follower.poll()
    assert not rewound and [r["step"] for r in records] == [1]   # bad line skipped, partial kept
    with open(path, "a") as fh:
        fh.write('g", "step": 2, "loss": 1}\n')
    assert [r["step"] for r in follower.poll()[1]] == [2]
    path.write_text('{"type": "log", "step": 1, "loss": 1}\n')   # truncated in place
    rewound, records = follower.poll()
    assert rewound and [r["step"] for r in records] == [1]


def test_a_missing_or_wrong_directory_is_one_message_and_exit_2(tmp_path, capsys):
    assert run_monitor(tmp_path / "nope") == 2
    err = capsys.readouterr().err
    assert "no such run directory" in err and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert cli_main(["monitor", str(tmp_path / "empty")]) == 2
    assert "not a run directory" in capsys.readouterr().err


@pytest.mark.slow   # a second Python process that imports torch and trains (~10-25 s)
async def test_attaches_to_a_headless_training_and_follows_it_to_the_end(tmp_path, tiny_model_dir):
    tiny_training_state(tmp_path, tiny_model_dir)          # writes tmp_path/ft-tui.yaml
    proc = subprocess.Popen([sys.executable, "-m", "ft_tui", "train", str(tmp_path / "ft-tui.yaml")],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        run_path = tmp_path / "runs" / "tiny"
        deadline = time.monotonic() + 60
        while not (run_path / "config.yaml").is_file():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the headless run did not start"
            time.sleep(0.05)
        app = MonitorApp(RunDir.open(run_path), poll_every_s=0.1)
        async with app.run_test(size=(100, 30)) as pilot:
            dash = app.query_one(Dashboard)
            await wait_until(pilot, lambda: dash.finished is not None, timeout_s=180)
            await wait_until(pilot, lambda: app.status.get("state") == "done", timeout_s=10)
            assert dash.finished.state == "done"
            assert [s for s, _ in dash.train_points] == [1, 2, 3, 4, 5, 6]
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_replays_a_dpo_run_with_its_preference_signals_and_watchdog_warning(run_dir):
    from ft_tui.tui.widgets.preference_panel import PreferencePanel

    for step in range(1, 5):
        run_dir.append_event(log(step, 0.69 - step / 20))
        run_dir.append_event({"type": "preference", "step": step, "margin": 0.1 * step,
                              "accuracy": 0.5 + 0.1 * step, "chosen": 0.05 * step,
                              "rejected": -0.05 * step})
    run_dir.append_event({"type": "warning", "step": 4, "code": "accuracy_at_chance",
                          "message": "preference accuracy is still at chance"})
    run_dir.append_event({"type": "end", "state": "done", "step": 4, "message": "finished 4 steps"})
    run_dir.write_status("done", step=4, total_steps=4, message="finished 4 steps")
    app = MonitorApp(run_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: not app.dashboard.replaying, timeout_s=30)  # a worker
        await pilot.pause()
        panel = app.query_one(PreferencePanel)
        assert panel.display
        assert "train: reward margin +0.400, preference accuracy 90%" in panel.summary()
        log_text = "\n".join(line.text for line in app.query_one("#dash-log").lines)
        assert "accuracy_at_chance: preference accuracy is" in log_text
        assert "accuracy_at_chance" in app.query_one(Dashboard).banner_text

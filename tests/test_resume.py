"""Resume: a run stopped (or killed) and resumed ends exactly like one that never stopped:
same losses at the same steps, token counts that keep counting, one log line per step."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ft_tui.core.run.events import RunStarted, StepLog
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training import SetupError, TrainingRunner, resume_runner
from tests.test_training_runner import tiny_cfg, write_data


def _logs(events):
    return {e.step: e for e in events if isinstance(e, StepLog)}


def test_stop_and_resume_matches_an_uninterrupted_run(tiny_model_dir, tmp_path):
    overrides = {"training.max_steps": 8, "training.save_steps": 4, "training.eval_steps": 4,
                 "training.sample_every_steps": 0}
    cfg = tiny_cfg(tiny_model_dir, tmp_path, **overrides)

    straight = []
    assert TrainingRunner(cfg.with_overrides({"run_name": "a"}), on_event=straight.append).run().state == "done"

    # Stop at step 3, not at the evaluation step 4: a stop skips the evaluation that was
    # due, and an evaluation draws from the RNG (its DataLoader seed), so LoRA dropout at
    # the next steps would differ from the uninterrupted run's.
    def stop_at_3(event):
        if isinstance(event, StepLog) and event.step == 3:
            runner_b.request_stop()

    runner_b = TrainingRunner(cfg.with_overrides({"run_name": "b"}), on_event=stop_at_3)
    first = runner_b.run()
    assert (first.state, first.step) == ("stopped", 3)
    # A crash after the checkpoint leaves logs the resumed run will write again.
    for step in (4, 5):
        runner_b.run_dir.append_event(StepLog(step=step, loss=99.0, num_tokens=1))

    resumed_events = []
    second = resume_runner(runner_b.run_dir.path, on_event=resumed_events.append).run()
    assert (second.state, second.step) == ("done", 8)
    assert isinstance(resumed_events[0], RunStarted) and resumed_events[0].start_step == 3

    a = _logs(straight)
    b_events = runner_b.run_dir.read_events()
    b_steps = [e.step for e in b_events if isinstance(e, StepLog)]
    assert b_steps == list(range(1, 9))                 # one line per step, none from the crash
    b = _logs(b_events)
    for step in range(1, 9):
        assert b[step].loss == pytest.approx(a[step].loss, rel=1e-4), step
        assert b[step].num_tokens == a[step].num_tokens, step     # no reset to zero
    assert b[4].elapsed_s > b[3].elapsed_s                         # the clock continues too
    assert RunDir(runner_b.run_dir.path).read_status()["state"] == "done"


def test_resume_refuses_a_finished_run(tiny_model_dir, tmp_path):
    cfg = tiny_cfg(tiny_model_dir, tmp_path, **{"training.max_steps": 2,
                                               "training.sample_every_steps": 0})
    runner = TrainingRunner(cfg)
    assert runner.run().state == "done"
    with pytest.raises(SetupError, match="already finished"):
        resume_runner(runner.run_dir.path)


@pytest.mark.slow  # a fresh `python -m ft_tui` process imports torch: ~15-30 s on 2 busy cores
def test_a_run_killed_with_sigkill_resumes_and_finishes(tiny_model_dir, tmp_path):
    data = write_data(tmp_path / "train.jsonl", n=48)
    config = tmp_path / "run.yaml"
    config.write_text(
        f"model: {{name: '{tiny_model_dir}'}}\n"
        f"data: {{train_path: '{data}', eval_fraction: 0.1}}\n"
        "training: {max_steps: 30, batch_size: 2, gradient_accumulation: 1, save_steps: 5,\n"
        "           eval_steps: 0, sample_every_steps: 0, learning_rate: 0.001}\n"
        f"output_dir: '{tmp_path / 'runs'}'\nrun_name: killed\n")
    run = RunDir(tmp_path / "runs" / "killed")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "ft_tui", "train", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 120
        while run.latest_checkpoint() is None:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint within 2 minutes"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert run.read_status()["state"] == "running"          # it died mid-run, saying nothing
    killed_at = max(e.step for e in run.read_events() if isinstance(e, StepLog))
    assert killed_at < 30

    finished = resume_runner(run.path).run()
    assert (finished.state, finished.step) == ("done", 30), finished.message
    steps = [e.step for e in run.read_events() if isinstance(e, StepLog)]
    assert steps == list(range(1, 31))
    assert (run.adapter_dir / "adapter_config.json").is_file()
    assert json.loads(run.status_path.read_text())["state"] == "done"

"""The multi-process path, proven on CPU: `ft-tui train --num-processes 2 --cpu` launches two
gloo workers through `accelerate launch`; they write one run directory as if one process
had trained (rank 0 alone writes events and status), and a stop request reaches both."""

import threading
import time

import pytest

from ft_tui.cli import main
from ft_tui.core.run.events import Checkpoint, RunFinished, RunStarted, StepLog
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training.launch import WORKER_LOG
from ft_tui.core.training.runner import STOP_FILE
from tests.test_training_runner import write_data

def _config(tmp_path, model_dir, max_steps: int):
    data = write_data(tmp_path / "train.jsonl", n=32)
    config = tmp_path / "run.yaml"
    config.write_text(
        f"model: {{name: '{model_dir}'}}\n"
        f"data: {{train_path: '{data}', eval_fraction: 0.25}}\n"
        f"training: {{max_steps: {max_steps}, batch_size: 2, gradient_accumulation: 1, eval_steps: 3,\n"
        "           save_steps: 3, sample_every_steps: 3, learning_rate: 0.001}\n"
        f"output_dir: '{tmp_path / 'runs'}'\nrun_name: ddp\n")
    return config


def bad_accelerate_default(home, monkeypatch):
    """A saved `accelerate config` that breaks a 2-process --multi_gpu launch without a
    --config_file ("Less than two GPU ids"), in the shape accelerate writes it."""
    saved = home / ".cache" / "huggingface" / "accelerate" / "default_config.yaml"
    saved.parent.mkdir(parents=True)
    saved.write_text("compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\n"
                     "gpu_ids: '0'\nnum_processes: 8\nmixed_precision: fp16\nnum_machines: 1\n"
                     "machine_rank: 0\nuse_cpu: false\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    return saved


@pytest.mark.slow   # several processes or a whole export: kept out of the ~5 min default run
def test_two_cpu_processes_train_into_one_run_dir(tiny_model_dir, tmp_path, capsys, monkeypatch):
    """... and a saved ~/.cache/huggingface/accelerate/default_config.yaml plays no part:
    the launch reads the run's own accelerate.yaml."""
    bad_accelerate_default(tmp_path / "home", monkeypatch)
    config = _config(tmp_path, tiny_model_dir, max_steps=6)
    code = main(["train", str(config), "--num-processes", "2", "--cpu"])
    out, err = capsys.readouterr()
    run = RunDir(tmp_path / "runs" / "ddp")
    assert code == 0, err + (run.path / WORKER_LOG).read_text()
    events = run.read_events()
    starts = [e for e in events if isinstance(e, RunStarted)]
    assert len(starts) == 1 and starts[0].total_steps == 6           # one writer, not two
    assert [e.step for e in events if isinstance(e, StepLog)] == list(range(1, 7))
    assert [e.step for e in events if isinstance(e, Checkpoint)] == [3, 6]
    assert isinstance(events[-1], RunFinished) and events[-1].state == "done"
    # Two ranks of batch 2 see 4 examples per step: twice the tokens of one process.
    logs = [e for e in events if isinstance(e, StepLog)]
    assert logs[-1].num_tokens > 0
    assert run.read_status()["state"] == "done"
    assert (run.adapter_dir / "adapter_config.json").is_file()
    assert "Launching 2 processes (ddp)" in err and "step 6/6" in err
    import yaml

    used = yaml.safe_load((run.path / "accelerate.yaml").read_text())
    assert (used["distributed_type"], used["num_processes"], used["gpu_ids"]) == ("MULTI_GPU", 2, "all")
    assert f"Next: ft-tui eval {run.path}" in out


@pytest.mark.slow  # ~20 s more of two processes starting on 2 cores
def test_stop_reaches_every_worker_and_checkpoints(tiny_model_dir, tmp_path, capsys):
    config = _config(tmp_path, tiny_model_dir, max_steps=400)
    run = RunDir(tmp_path / "runs" / "ddp")

    def stop_after_first_step():
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if any(isinstance(e, StepLog) for e in run.read_events()):
                (run.path / STOP_FILE).touch()       # what the launcher does on Ctrl+C
                return
            time.sleep(0.05)

    stopper = threading.Thread(target=stop_after_first_step, daemon=True)
    stopper.start()
    code = main(["train", str(config), "--num-processes", "2", "--cpu"])
    out, err = capsys.readouterr()
    stopper.join()
    assert code == 130, err + (run.path / WORKER_LOG).read_text()
    status = run.read_status()
    assert status["state"] == "stopped" and 0 < status["step"] < 400
    assert run.latest_checkpoint().name == f"checkpoint-{status['step']}"
    assert not (run.path / STOP_FILE).exists()


def test_launcher_follows_a_metrics_file_that_is_rewritten_or_cut(tmp_path):
    """The launcher reads metrics.jsonl with the same follower as `ft-tui monitor`: a file
    replaced by an atomic rewrite (new inode, shorter) is read again, not skipped."""
    import os
    import sys

    from ft_tui.core.atomic import atomic_write_text
    from ft_tui.core.training.launch import LaunchedRun

    run = RunDir.create(tmp_path, "follow")
    run.append_event(StepLog(step=1, loss=2.0))
    launched = LaunchedRun(run, [sys.executable, "-c", "pass"])
    launched.follower.skip_to_end()                      # what start() does: history is known
    run.append_event(StepLog(step=2, loss=1.9))
    run.append_event(StepLog(step=3, loss=1.8))
    assert [e.step for e in launched.poll_events()] == [2, 3]
    inode = os.stat(run.metrics_path).st_ino
    atomic_write_text(run.metrics_path, '{"type": "end", "state": "done", "step": 1, "message": "ok"}\n')
    assert os.stat(run.metrics_path).st_ino != inode
    events = launched.poll_events()
    assert [type(e) for e in events] == [RunFinished] and events[0].state == "done"
    assert launched._outcome(0).message == "ok"           # the end record is the outcome

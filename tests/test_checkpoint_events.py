"""A graceful stop logs its checkpoint once, also when the stop falls on a regular save
step (each step's checkpoint is one `checkpoint` event in metrics.jsonl)."""

from ft_tui.core.run.events import Checkpoint, StepLog
from ft_tui.core.training import TrainingRunner
from tests.test_training_runner import tiny_cfg


def test_a_stop_on_a_save_step_logs_one_checkpoint_event(tiny_model_dir, tmp_path):
    cfg = tiny_cfg(tiny_model_dir, tmp_path, **{"training.max_steps": 8, "training.save_steps": 2,
                                                "training.eval_steps": 50,
                                                "training.sample_every_steps": 0})
    seen, holder = [], []

    def on_event(event):
        seen.append(event)
        if isinstance(event, StepLog) and event.step == 2:
            holder[0].request_stop()

    holder.append(TrainingRunner(cfg, on_event=on_event))
    finished = holder[0].run()
    assert finished.state == "stopped"
    logged = [e.step for e in holder[0].run_dir.read_events() if isinstance(e, Checkpoint)]
    assert logged == [2]
    assert [e.step for e in seen if isinstance(e, Checkpoint)] == [2]


def test_ctrl_c_in_the_cli_says_checkpoint_saved_once(tiny_model_dir, tmp_path, capsys, monkeypatch):
    from ft_tui.cli import main
    from tests.test_cli_train import _press_ctrl_c, _run_dir
    from tests.test_training_runner import write_data

    data = write_data(tmp_path / "train.jsonl")
    pressed = _press_ctrl_c(1, monkeypatch)
    assert main(["train", "--model", str(tiny_model_dir), "--data", str(data), "--max-steps", "40",
                 "--output-dir", str(tmp_path / "runs"), "--set", "training.save_steps=1",
                 "--set", "training.sample_every_steps=0", "--batch-size", "4"]) == 130
    out, err = capsys.readouterr()
    step = _run_dir(out).read_status()["step"]
    assert pressed and err.count("checkpoint saved") == 1
    assert f"step {step}: checkpoint saved" in err

"""`ft-tui train` as a user runs it: flags over YAML over defaults, one clear line for
every mistake, the run directory printed, Ctrl+C stopping with a checkpoint."""

import os
import signal

import pytest

from ft_tui.cli import main
from ft_tui.core.run.events import StepLog
from ft_tui.core.run.rundir import RunDir
from tests.test_training_runner import write_data


@pytest.fixture()
def setup(tiny_model_dir, tmp_path):
    data = write_data(tmp_path / "train.jsonl")
    config = tmp_path / "run.yaml"
    config.write_text(
        f"model: {{name: '{tiny_model_dir}'}}\n"
        f"data: {{train_path: '{data}', eval_fraction: 0.25}}\n"
        "training: {learning_rate: 0.0005, max_steps: 40, batch_size: 4, gradient_accumulation: 1,\n"
        "           eval_steps: 2, save_steps: 2, sample_every_steps: 0}\n"
        f"output_dir: '{tmp_path / 'runs'}'\n")
    return config, data, tmp_path


def _run(capsys, *argv):
    code = main(["train", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _run_dir(out: str) -> RunDir:
    line = next(ln for ln in out.splitlines() if ln.startswith("Run directory: "))
    return RunDir(__import__("pathlib").Path(line.split(": ", 1)[1]))


def test_flags_override_the_yaml_which_overrides_the_defaults(setup, capsys):
    config, _, tmp = setup
    code, out, err = _run(capsys, config, "--max-steps", 2, "--run-name", "cli", "--batch-size", 2)
    assert code == 0, err
    run = RunDir(tmp / "runs" / "cli")
    cfg = run.load_config()
    assert cfg.training.max_steps == 2 and cfg.training.batch_size == 2     # flags
    assert cfg.training.learning_rate == 0.0005                              # YAML
    assert cfg.lora.r == 16 and cfg.method == "lora"                         # defaults
    assert out.count(f"Run directory: {run.path}") == 2                      # at start and end
    assert f"Next: ft-tui eval {run.path}" in out
    assert "Traceback" not in err and "step 2/2" in err


def test_config_errors_exit_2_naming_field_value_and_range(setup, capsys):
    config, _, tmp = setup
    code, _, err = _run(capsys, config, "--lr", 5)
    assert code == 2
    assert "training.learning_rate: 5.0 is out of range; allowed 1e-06..0.001" in err
    bad = tmp / "bad.yaml"
    bad.write_text("training: {learning_rat: 0.001}\n")
    code, _, err = _run(capsys, bad)
    assert code == 2 and "did you mean 'training.learning_rate'" in err
    code, _, err = _run(capsys, tmp / "missing.yaml")
    assert code == 2 and "no such config file" in err
    assert not (tmp / "runs").exists()                   # nothing was started


def test_missing_data_or_model_is_a_usage_error_before_any_run_dir(setup, capsys):
    config, _, tmp = setup
    code, _, err = _run(capsys, config, "--data", tmp / "nope.jsonl")
    assert code == 2 and "data.train_path" in err and "nope.jsonl" in err and "--data" in err
    code, _, err = _run(capsys, config, "--model", tmp / "no-model")
    assert code == 2 and "model.name" in err and "no such file or folder" in err
    assert not (tmp / "runs").exists()


def test_resume_takes_no_overrides_and_needs_a_run_dir(setup, capsys):
    config, _, tmp = setup
    code, _, err = _run(capsys, "--resume", tmp / "nope")
    assert code == 2 and "no such run directory" in err
    code, _, err = _run(capsys, "--resume", tmp, "--max-steps", 5)
    assert code == 2 and "drop --max-steps" in err


def test_bad_data_exits_1_with_line_numbers_and_no_traceback(setup, capsys):
    config, data, _ = setup
    write_data(data, bad_lines=(4,))
    code, out, err = _run(capsys, config)
    assert code == 1
    assert "training failed" in err and "line 4" in err and str(data) in err
    assert "Traceback" not in err + out
    assert _run_dir(out).read_status()["state"] == "failed"


def test_qlora_on_cpu_is_explained_and_lora_offered(setup, capsys, monkeypatch):
    config, _, tmp = setup
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "y")
    code, out, err = _run(capsys, config, "--method", "qlora", "--max-steps", 1, "--run-name", "q")
    assert code == 0, err
    assert "QLoRA without a CUDA GPU" in err and "--method lora" in err
    assert asked and "Switch to LoRA" in asked[0]
    assert RunDir(tmp / "runs" / "q").load_config().method == "lora"


def _press_ctrl_c(times: int, monkeypatch):
    """Press Ctrl+C (SIGINT to ourselves) when the first training step is shown, like a user
    would: from inside the run, so the signal always meets the command's own handler."""
    from ft_tui.commands.train import TrainDisplay

    shown = TrainDisplay.handle
    pressed = []

    def handle(self, event):
        shown(self, event)
        if isinstance(event, StepLog) and not pressed:
            pressed.append(event.step)
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(TrainDisplay, "handle", handle)
    return pressed


def test_ctrl_c_stops_with_a_checkpoint_and_exit_130(setup, capsys, monkeypatch):
    config, _, tmp = setup
    pressed = _press_ctrl_c(1, monkeypatch)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    code, out, err = _run(capsys, config)
    assert pressed
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert code == 130
    run = _run_dir(out)
    status = run.read_status()
    assert status["state"] == "stopped" and status["step"] < 40
    assert run.latest_checkpoint().name == f"checkpoint-{status['step']}"
    assert f"Resume: ft-tui train --resume {run.path}" in out
    assert "saving a checkpoint first" in err


def test_second_ctrl_c_aborts_without_a_traceback(setup, capsys, monkeypatch):
    config, _, tmp = setup
    pressed = _press_ctrl_c(2, monkeypatch)
    code, out, err = _run(capsys, config)
    assert pressed
    assert code == 130
    assert "aborted" in out and "Traceback" not in err
    assert _run_dir(out).read_status()["state"] == "stopped"


def test_set_reaches_any_field_and_bad_types_stop_before_a_run_dir(setup, capsys):
    config, _, tmp = setup
    code, _, err = _run(capsys, config, "--set", "lora.r=4", "--set", "training.seed=7",
                        "--set", "data.system_prompt=Be brief.", "--max-steps", 1, "--run-name", "set")
    assert code == 0, err
    cfg = RunDir(tmp / "runs" / "set").load_config()
    assert (cfg.lora.r, cfg.training.seed, cfg.data.system_prompt) == (4, 7, "Be brief.")
    code, _, err = _run(capsys, config, "--set", "lora.rank=4", "--run-name", "x")
    assert code == 2 and "lora.rank: unknown setting (did you mean 'lora.r'?)" in err
    code, _, err = _run(capsys, config, "--set", "training.lora_r=4", "--run-name", "x")
    assert code == 2 and "training.lora_r: unknown setting (did you mean 'lora.r'?)" in err
    code, _, err = _run(capsys, config, "--set", "data.dir=x", "--run-name", "x")  # not 'output_dir'
    assert code == 2 and "data.dir: unknown setting (see ft-tui train --help-config)" in err
    code, _, err = _run(capsys, config, "--set", "training.warmup_ratio=nan", "--run-name", "x")
    assert code == 2 and "training.warmup_ratio" in err and "finite" in err
    code, _, err = _run(capsys, config, "--set", "lora.r", "--run-name", "x")
    assert code == 2 and "expected KEY=VALUE" in err
    bad = tmp / "bad.yaml"
    bad.write_text(config.read_text().replace("train_path: '", "train_path: ['") .replace(".jsonl'", ".jsonl']"))
    code, _, err = _run(capsys, bad, "--run-name", "x")
    assert code == 2 and "data.train_path: expected text" in err
    assert not (tmp / "runs" / "x").exists()


def test_help_config_lists_every_field_with_help_and_range(capsys):
    from ft_tui.core.config.settings import iter_fields

    code, out, _ = _run(capsys, "--help-config")
    assert code == 0
    for info in iter_fields():
        assert f"  {info.key}  (" in out and info.help in out
    assert "training.learning_rate  (float, default 0.0002; 1e-06..0.001)" in out
    assert "one of lora, qlora, full" in out

"""Usage problems found before a run directory exists: one line, exit 2, nothing left
behind (a hub model that is not cached offline, an output folder that cannot be written,
a run another process holds)."""

import os
import subprocess
import sys

import pytest

from ft_tui.cli import main
from ft_tui.core.run.rundir import RunDir
from tests.test_run_robustness import _env, _stopped_run
from tests.test_training_runner import write_data


@pytest.fixture()
def base(tmp_path, tiny_model_dir):
    data = write_data(tmp_path / "train.jsonl")
    return ["train", "--model", str(tiny_model_dir), "--data", str(data), "--max-steps", "1"]


def _train(capsys, *argv):
    code = main([*map(str, argv)])
    out, err = capsys.readouterr()
    assert "unexpected error" not in err and "Traceback" not in err
    return code, out, err


def test_a_hub_model_missing_from_the_offline_cache_is_said_before_any_run_dir(
        base, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    runs = tmp_path / "runs"
    code, out, err = _train(capsys, *base, "--model", "nobody-here/not-a-cached-model",
                            "--output-dir", runs)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(
        "ft-tui: model.name: nobody-here/not-a-cached-model is not in the Hugging Face cache (")
    assert "offline mode is on" in err and "`ft-tui download nobody-here/not-a-cached-model`" in err
    assert "Run directory" not in out and not runs.exists()


def test_the_wizard_start_refuses_it_too(tmp_path, monkeypatch):
    from ft_tui.core.config.settings import RunConfig
    from ft_tui.core.errors import SetupError
    from ft_tui.core.training.session import start_run

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = RunConfig().with_overrides({"model.name": "nobody-here/not-a-cached-model",
                                      "output_dir": str(tmp_path / "runs")})
    with pytest.raises(SetupError, match="not in the Hugging Face cache"):
        start_run(cfg)
    assert not (tmp_path / "runs").exists()


def test_an_output_folder_that_is_a_file_or_read_only_is_refused(base, tmp_path, capsys,
                                                                 monkeypatch):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    code, out, err = _train(capsys, *base, "--output-dir", a_file / "runs")
    assert code == 2
    assert f"output_dir: {a_file} is a file, not a folder" in err and "Run directory" not in out

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o555)
    if os.geteuid() == 0:   # root writes anywhere; answer as the kernel does for everyone else
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(shared)
                            else real(p, mode, **kw))
    try:
        code, out, err = _train(capsys, *base, "--output-dir", shared / "runs")
        assert code == 2
        assert f"output_dir: cannot write to {shared} (read-only or not yours)" in err
        assert not (shared / "runs").exists()
    finally:
        shared.chmod(0o755)


def test_resuming_a_run_another_process_holds_exits_2_and_touches_nothing(
        tiny_model_dir, tmp_path, capsys):
    run = _stopped_run(tiny_model_dir, tmp_path, max_steps=6)
    status, metrics = run.status_path.read_bytes(), run.metrics_path.read_bytes()
    holder = subprocess.Popen([sys.executable, "-c",
                               "import time; from ft_tui.core.run.lock import RunLock; "
                               f"lock = RunLock({str(run.path)!r}, 'training').acquire(); "
                               "print('held', flush=True); time.sleep(120)"],
                              env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, out, err = _train(capsys, "train", "--resume", run.path)
        assert code == 2
        assert err.strip().startswith(f"ft-tui: run {run.path} is in use by process {holder.pid} "
                                      "(training)")
        assert len(err.strip().splitlines()) == 1
        assert run.status_path.read_bytes() == status and run.metrics_path.read_bytes() == metrics
        assert RunDir(run.path).read_status()["state"] == "stopped"
    finally:
        holder.kill()
        holder.wait()

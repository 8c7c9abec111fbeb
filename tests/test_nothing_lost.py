"""Nothing lost: files ft-tui must never empty or replace, whatever a folder holds
(a planted lock link, an existing split, a full disk during a save)."""

import json
import os
from pathlib import Path

import pytest

from ft_tui.core.run.lock import RunInUse, RunLock


def test_a_lock_that_is_a_symlink_is_refused_and_its_target_kept(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("years of work\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").symlink_to(precious)
    with pytest.raises(RunInUse, match="symbolic link"):
        RunLock(run, "evaluating").acquire()
    assert precious.read_text() == "years of work\n"


def test_a_lock_that_is_a_hard_link_or_a_folder_is_refused(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("years of work\n")
    run = tmp_path / "run"
    run.mkdir()
    os.link(precious, run / ".lock")
    with pytest.raises(RunInUse, match="hard link"):
        RunLock(run, "training").acquire()
    assert precious.read_text() == "years of work\n"
    (run / ".lock").unlink()
    (run / ".lock").mkdir()
    with pytest.raises(RunInUse, match="not a regular file|lock"):
        RunLock(run, "training").acquire()


def test_the_lock_is_written_over_never_truncated_and_still_names_its_holder(tmp_path):
    lock = tmp_path / ".lock"
    lock.write_text("x" * 300)      # whatever was there: nothing past the holder field is cut
    with RunLock(tmp_path, "evaluating"):
        assert lock.stat().st_size == 300
        with pytest.raises(RunInUse, match=rf"process {os.getpid()} \(evaluating\)"):
            RunLock(tmp_path, "training").acquire()
    assert lock.stat().st_size == 300


def test_split_never_replaces_an_existing_train_or_eval_file(tmp_path, capsys):
    from ft_tui.cli import main

    rows = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                     {"role": "assistant", "content": f"a{i}"}]}) for i in range(10)]
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(rows) + "\n")
    mine = tmp_path / "data.eval.jsonl"          # the user's own hand-made held-out set
    mine.write_text('{"prompt": "kept", "completion": "as is"}\n')
    assert main(["inspect", str(data), "--model", "none", "--split", "0.2"]) == 0
    err = capsys.readouterr().err
    assert mine.read_text() == '{"prompt": "kept", "completion": "as is"}\n'
    assert not (tmp_path / "data.train.jsonl").exists()   # the pair keeps one number
    train, held = tmp_path / "data.train-2.jsonl", tmp_path / "data.eval-2.jsonl"
    assert str(train) in err and str(held) in err
    assert len(train.read_text().splitlines()) + len(held.read_text().splitlines()) == 10


def _torch_disk_full_error():
    """What torch.save raises on a full disk (measured on a 600 KB tmpfs, torch 2.13)."""
    try:
        raise RuntimeError("basic_ios::clear: iostream error")
    except RuntimeError:
        try:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
        except RuntimeError as exc:
            return exc


def test_full_disk_errors_from_torch_and_safetensors_are_recognised():
    from safetensors import SafetensorError

    from ft_tui.core.space import is_disk_full

    assert is_disk_full(_torch_disk_full_error())
    assert is_disk_full(SafetensorError(
        "Error while serializing: I/O error: No space left on device (os error 28)"))
    assert not is_disk_full(RuntimeError("shape mismatch"))
    assert not is_disk_full(ValueError("bad value"))


def test_disk_full_during_a_checkpoint_save_fails_cleanly_and_keeps_the_last_one(
        tiny_model_dir, tmp_path, monkeypatch):
    import errno

    import torch

    from ft_tui.core.run import rundir
    from ft_tui.core.space import RESERVE_FILE
    from ft_tui.core.training import TrainingRunner
    from tests.test_training_runner import tiny_cfg

    cfg = tiny_cfg(tiny_model_dir, tmp_path, **{"training.sample_every_steps": 0, "training.max_steps": 4,
                                                "training.save_steps": 2, "training.eval_steps": 50})
    real_save, real_status_write = torch.save, rundir.atomic_write_json
    full = []

    def save(obj, f, *a, **kw):   # the second checkpoint's optimizer state hits a full disk
        if "checkpoint-4" in str(f):
            Path(f).write_bytes(b"PK\x03\x04 half")
            full.append(True)
            raise _torch_disk_full_error()
        return real_save(obj, f, *a, **kw)

    def status_write(path, data, *a, **kw):   # on the full disk only the reserve makes room
        if full and (Path(path).parent / RESERVE_FILE).exists():
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_status_write(path, data, *a, **kw)

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(rundir, "atomic_write_json", status_write)
    finished = TrainingRunner(cfg).run()
    run = tmp_path / "runs" / "run"
    status = json.loads((run / "status.json").read_text())
    assert finished.state == status["state"] == "failed"
    assert "disk is full" in status["message"] and "needs about" in status["message"]
    assert "checkpoint-2 is kept" in status["message"] and "--resume" in status["message"]
    assert "unexpected error" not in status["message"]
    assert sorted(p.name for p in (run / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2"]
    assert not (run / "adapter").exists()


@pytest.mark.parametrize("damage", [b"\xff\xfe\x00garbage", b'{"completed": 5}', b"[1, 2]"])
def test_a_damaged_wizard_progress_file_is_ignored_with_a_note(tmp_path, damage):
    from ft_tui.tui.state import WizardState

    config = tmp_path / "ft-tui.yaml"
    config.write_text("training:\n  max_steps: 7\n")
    (tmp_path / "ft-tui.wizard.json").write_bytes(damage)
    state = WizardState.load(config)
    assert state.cfg.training.max_steps == 7 and state.current_step == "decide"
    assert "damaged" in state.progress_note and state.load_problem is None


def test_a_block_of_nuls_before_good_rows_is_not_called_utf16(tmp_path):
    from ft_tui.core.data import load_examples

    row = json.dumps({"messages": [{"role": "user", "content": "q"},
                                   {"role": "assistant", "content": "a"}]})
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"\0" * 4096 + b"\n" + (row + "\n").encode() * 5)
    result = load_examples(path)
    assert len(result.examples) == 5
    assert not any("UTF-16" in str(e) for e in result.errors)
    utf16 = tmp_path / "utf16.jsonl"   # real UTF-16 without a BOM is still named
    utf16.write_bytes(((row + "\n") * 5).encode("utf-16-le"))
    assert any("UTF-16" in str(e) for e in load_examples(utf16).errors)

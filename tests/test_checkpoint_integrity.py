"""Resume uses only a whole checkpoint, never trains past max_steps, and never replaces a
final adapter."""

import hashlib
import json
import os

import pytest

from ft_tui.core.run.events import StepLog
from ft_tui.core.run.rundir import RunDir


def _checkpoint(folder, step, max_steps=10):
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    save_file({"w": torch.ones(64, 64)}, str(folder / "adapter_model.safetensors"))
    torch.save({"state": {0: {"exp_avg": torch.zeros(64, 64)}}}, folder / "optimizer.pt")
    (folder / "adapter_config.json").write_text("{}")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": max_steps}))
    return folder


@pytest.mark.parametrize("damage", ["cut_weights", "zeroed_optimizer", "size_differs"])
def test_a_torn_newest_checkpoint_is_skipped_for_the_one_before(tmp_path, damage):
    from ft_tui.core.training.checkpoint_files import seal_checkpoint
    from ft_tui.core.training.resume import usable_checkpoint

    run = RunDir(tmp_path / "run")
    older = _checkpoint(run.checkpoints_dir / "checkpoint-4", 4)
    newer = _checkpoint(run.checkpoints_dir / "checkpoint-8", 8)
    seal_checkpoint(older)
    seal_checkpoint(newer)
    weights, optimizer = newer / "adapter_model.safetensors", newer / "optimizer.pt"
    if damage == "cut_weights":            # a power cut before the data reached the disk
        os.truncate(weights, weights.stat().st_size // 2)
    elif damage == "zeroed_optimizer":     # same size, blocks never written
        optimizer.write_bytes(b"\0" * optimizer.stat().st_size)
    else:
        (newer / "adapter_config.json").write_text('{"r": 8}')
    skipped = []
    assert usable_checkpoint(run, skipped=skipped) == older
    assert len(skipped) == 1 and skipped[0].startswith("checkpoint-8: ")


def test_an_unsealed_whole_checkpoint_is_still_used(tmp_path):
    from ft_tui.core.training.resume import usable_checkpoint

    run = RunDir(tmp_path / "run")
    newest = _checkpoint(run.checkpoints_dir / "checkpoint-8", 8)   # an older ft-tui's save
    assert usable_checkpoint(run) == newest


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_resume_after_the_last_checkpoint_never_trains_past_max_steps_nor_replaces_the_adapter(
        tiny_model_dir, tmp_path):
    from ft_tui.core.errors import SetupError
    from ft_tui.core.training import TrainingRunner, resume_runner
    from ft_tui.core.training.checkpoint_files import MANIFEST
    from tests.test_training_runner import tiny_cfg

    cfg = tiny_cfg(tiny_model_dir, tmp_path, **{"training.max_steps": 2, "training.save_steps": 2,
                                                "training.eval_steps": 50,
                                                "training.sample_every_steps": 0})
    first = TrainingRunner(cfg)
    assert first.run().state == "done"
    run = first.run_dir
    assert (run.checkpoints_dir / "checkpoint-2" / MANIFEST).is_file()   # sealed when saved

    # Killed after the last checkpoint, before the final save: no adapter, no "end" event.
    lines = run.metrics_path.read_text().splitlines()
    run.metrics_path.write_text("".join(l + "\n" for l in lines if '"type": "end"' not in l))
    import shutil
    shutil.rmtree(run.adapter_dir)
    run.write_status("running", step=2, total_steps=2)
    seen = []
    finished = resume_runner(run.path, on_event=seen.append).run()
    assert finished.state == "done" and finished.step == 2, finished.message
    assert not [e for e in seen if isinstance(e, StepLog)]
    assert (run.adapter_dir / "adapter_config.json").is_file()
    adapter = _digest(run.adapter_dir)

    # A damaged status.json on a finished run: refused, the adapter untouched.
    run.status_path.write_text("{not json")
    with pytest.raises(SetupError, match="already finished"):
        resume_runner(run.path)
    assert _digest(run.adapter_dir) == adapter

"""TrainingRunner on the tiny model: real SFT steps, the events they produce, the run
directory they leave, and the ways a run ends (done, stopped, failed)."""

import json
import threading

import pytest

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.events import (Checkpoint, EvalLog, Phase, RunFinished, RunStarted, Samples,
                                    StepLog, TrainWarning)
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training import TrainingRunner

TICKETS = [("I was charged twice for order 48213.", "billing"),
           ("The printer on floor 3 is jammed again.", "technical"),
           ("How do I reset my password?", "account"),
           ("Please refund one payment.", "billing"),
           ("Nobody can print invoices.", "technical"),
           ("The link in the email has expired.", "account")]


def write_data(path, n=24, bad_lines=()):
    lines = []
    for i in range(n):
        text, label = TICKETS[i % len(TICKETS)]
        messages = [{"role": "system", "content": "Classify the ticket."},
                    {"role": "user", "content": text}, {"role": "assistant", "content": label}]
        lines.append(json.dumps({"messages": messages}))
    for number in bad_lines:
        lines[number - 1] = '{"messages": [oops'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_cfg(model_dir, tmp_path, **overrides) -> RunConfig:
    data = write_data(tmp_path / "train.jsonl")
    base = {"model.name": str(model_dir), "data.train_path": str(data), "data.eval_fraction": 0.25,
            "training.max_steps": 10, "training.batch_size": 4, "training.gradient_accumulation": 1,
            "training.learning_rate": 1e-3, "training.warmup_ratio": 0.0, "training.eval_steps": 5,
            "training.save_steps": 5, "training.sample_every_steps": 5,
            "output_dir": str(tmp_path / "runs"), "run_name": "run"}
    return RunConfig().with_overrides({**base, **overrides})


def test_lora_run_lowers_the_loss_and_reports_every_step_in_order(tiny_model_dir, tmp_path):
    cfg = tiny_cfg(tiny_model_dir, tmp_path)
    seen = []
    runner = TrainingRunner(cfg, on_event=seen.append)
    finished = runner.run()
    assert finished.state == "done", finished.message
    assert finished.step == 10
    assert finished.elapsed_s is not None and finished.elapsed_s > 0   # its clock, saving included

    queued = [runner.events.get_nowait() for _ in range(runner.events.qsize())]
    on_disk = runner.run_dir.read_events()
    assert [e.to_dict() for e in queued] == [e.to_dict() for e in seen]
    assert [e.to_dict() for e in on_disk] == json.loads(json.dumps([e.to_dict() for e in seen]))

    assert isinstance(seen[0], RunStarted) and isinstance(seen[-1], RunFinished)
    assert seen[0].total_steps == 10 and seen[0].start_step == 0
    assert 0 < seen[0].trainable_params < seen[0].total_params
    logs = [e for e in seen if isinstance(e, StepLog)]
    assert [e.step for e in logs] == list(range(1, 11))
    steps = [getattr(e, "step", 0) for e in seen[1:]]
    assert steps == sorted(steps)                       # nothing arrives out of order
    assert [e.step for e in seen if isinstance(e, EvalLog)] == [5, 10]
    assert [e.step for e in seen if isinstance(e, Checkpoint)] == [5, 10]
    samples = [e for e in seen if isinstance(e, Samples)]
    assert [e.step for e in samples] == [5, 10]
    assert all(len(e.samples) == 3 and set(e.samples[0]) == {"prompt", "output", "reference"}
               for e in samples)

    first, last = logs[0], logs[-1]
    assert sum(e.loss for e in logs[-3:]) < sum(e.loss for e in logs[:3]) - 0.05
    assert all(e.tokens_per_s and e.tokens_per_s > 0 for e in logs)
    tokens = [e.num_tokens for e in logs]
    assert tokens == sorted(tokens) and tokens[0] > 0 and len(set(tokens)) == 10
    assert last.eta_s == 0 and first.eta_s > 0 and last.elapsed_s > first.elapsed_s
    assert last.gpu_mem_gb is None and last.total_steps == 10
    assert first.learning_rate == pytest.approx(1e-3) and first.grad_norm > 0

    run = runner.run_dir
    status = run.read_status()
    assert (status["state"], status["step"], status["total_steps"]) == ("done", 10, 10)
    assert run.load_config() == cfg
    assert (run.adapter_dir / "adapter_config.json").is_file()
    assert (run.adapter_dir / "tokenizer_config.json").is_file()
    from safetensors.torch import load_file

    weights = load_file(str(run.adapter_dir / "adapter_model.safetensors"))
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b)   # B starts at zero: it learned


def test_full_fine_tune_saves_a_whole_model(tiny_model_dir, tmp_path):
    cfg = tiny_cfg(tiny_model_dir, tmp_path, method="full", **{"training.max_steps": 3,
                                                               "training.sample_every_steps": 0})
    finished = TrainingRunner(cfg).run()
    assert finished.state == "done", finished.message
    adapter = RunDir(tmp_path / "runs" / "run").adapter_dir
    assert (adapter / "config.json").is_file() and not (adapter / "adapter_config.json").exists()
    assert list(adapter.glob("*.safetensors"))


def test_stop_from_another_thread_checkpoints_first(tiny_model_dir, tmp_path):
    cfg = tiny_cfg(tiny_model_dir, tmp_path, **{"training.max_steps": 50,
                                               "training.sample_every_steps": 0})
    runner = TrainingRunner(cfg)
    result = []
    worker = threading.Thread(target=lambda: result.append(runner.run()))
    worker.start()
    while True:                                   # what the UI does: read events, press stop
        event = runner.events.get(timeout=120)
        if isinstance(event, StepLog) and event.step >= 2:
            runner.request_stop()
            break
    worker.join(timeout=120)
    finished = result[0]
    assert finished.state == "stopped" and finished.step < 50
    assert "resume" in finished.message
    assert runner.run_dir.latest_checkpoint().name == f"checkpoint-{finished.step}"
    assert runner.run_dir.read_status()["state"] == "stopped"
    assert not runner.run_dir.adapter_dir.exists()


def test_stop_takes_effect_at_that_step_without_its_evaluation_or_samples(tiny_model_dir, tmp_path):
    # Step 5 is an evaluation step; a stop asked for while its samples are generated
    # ends the run at step 5 with a checkpoint and without that evaluation.
    cfg = tiny_cfg(tiny_model_dir, tmp_path, **{"training.max_steps": 20})
    seen = []

    def on_event(event):
        seen.append(event)
        if isinstance(event, Samples) and event.step == 5:
            runner.request_stop()

    runner = TrainingRunner(cfg, on_event=on_event)
    finished = runner.run()
    assert finished.state == "stopped" and finished.step == 5, finished.message
    assert [e.step for e in seen if isinstance(e, EvalLog)] == []
    assert [e.step for e in seen if isinstance(e, Checkpoint)] == [5]
    assert [e.phase for e in seen if isinstance(e, Phase)][-1] == "saving"


def test_a_pending_stop_skips_the_steps_evaluation_and_samples():
    from types import SimpleNamespace

    from transformers import TrainerControl

    from ft_tui.core.training.callbacks import EventCallback
    from ft_tui.core.training.meter import StepMeter

    events = []
    callback = EventCallback(events.append, lambda: True, start_info={}, tokenizer=object(),
                             sample_prompts=[{"messages": [], "reference": ""}], sample_every=1)
    callback._samples = lambda step, model: events.append("samples")   # must not be called
    callback.meter = StepMeter(10)
    control = TrainerControl(should_evaluate=True)   # DefaultFlowCallback: an eval step
    callback.on_step_end(None, SimpleNamespace(global_step=3), control, model=object())
    assert control.should_training_stop and control.should_save and not control.should_evaluate
    assert "samples" not in events and callback.stopped_at == 3


def test_in_training_evaluation_scores_a_bounded_subset_and_reports_progress(tiny_model_dir,
                                                                          tmp_path):
    cfg = tiny_cfg(tiny_model_dir, tmp_path, **{"training.max_steps": 5, "data.eval_fraction": 0.5,
                                               "training.max_eval_rows": 3,
                                               "training.batch_size": 2})
    seen = []
    finished = TrainingRunner(cfg, on_event=seen.append).run()
    assert finished.state == "done", finished.message
    progress = [(e.done, e.total) for e in seen if isinstance(e, Phase) and e.phase == "evaluating"]
    # 12 held-out rows, 3 scored, two per batch: 0/3, 2/3, 3/3
    assert progress == [(0, 3), (2, 3), (3, 3)]
    phases = [e.phase for e in seen if isinstance(e, Phase)]
    assert "generating samples" in phases and "saving" in phases
    assert phases[phases.index("evaluating") + 3] != "evaluating"   # back to work afterwards


def test_nan_loss_fails_the_run_with_its_cause(tiny_model_dir, tmp_path, monkeypatch):
    from trl import SFTTrainer

    original = SFTTrainer.compute_loss

    def diverging(self, *args, **kwargs):
        loss = original(self, *args, **kwargs)
        return loss * float("nan") if self.state.global_step >= 2 else loss

    monkeypatch.setattr(SFTTrainer, "compute_loss", diverging)
    seen = []
    runner = TrainingRunner(tiny_cfg(tiny_model_dir, tmp_path), on_event=seen.append)
    finished = runner.run()
    assert finished.state == "failed" and finished.step == 3
    assert "NaN at step 3" in finished.message and "learning rate" in finished.message
    # (tiny_cfg's rows repeat, so its held-out split also gets the eval_overlap warning)
    assert [e.code for e in seen if isinstance(e, TrainWarning)
            and e.code != "eval_overlap"] == ["nan_loss"]
    assert runner.run_dir.read_status()["state"] == "failed"
    assert runner.run_dir.latest_checkpoint() is None      # broken weights are not saved


def test_bad_data_fails_before_the_model_loads(tiny_model_dir, tmp_path, monkeypatch):
    from ft_tui.core.training import builder

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model was loaded despite bad data")

    monkeypatch.setattr(builder, "load_model_and_tokenizer", must_not_load)
    cfg = tiny_cfg(tiny_model_dir, tmp_path)
    write_data(tmp_path / "train.jsonl", bad_lines=(3, 7))
    finished = TrainingRunner(cfg).run()
    assert finished.state == "failed"
    assert str(tmp_path / "train.jsonl") in finished.message
    assert "line 3" in finished.message and "line 7" in finished.message
    assert "ft-tui inspect" in finished.message


def test_qlora_without_cuda_warns_before_loading_anything(tiny_model_dir, tmp_path):
    seen = []

    def listener(event):
        seen.append(event)
        if isinstance(event, TrainWarning) and event.code == "qlora_on_cpu":
            runner.request_stop()       # what a user does after reading it

    runner = TrainingRunner(tiny_cfg(tiny_model_dir, tmp_path, method="qlora"), on_event=listener)
    finished = runner.run()
    warning = next(e for e in seen if isinstance(e, TrainWarning))
    assert warning.code == "qlora_on_cpu"
    assert "slow" in warning.message and "--method lora" in warning.message
    assert finished.state == "stopped" and "before training started" in finished.message


def test_out_of_memory_fails_with_advice_and_no_traceback(tiny_model_dir, tmp_path, monkeypatch):
    import torch
    from trl import SFTTrainer

    def oom(self, *args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(SFTTrainer, "train", oom)
    runner = TrainingRunner(tiny_cfg(tiny_model_dir, tmp_path))
    finished = runner.run()
    assert finished.state == "failed" and finished.message.startswith("out of memory")
    assert "batch_size" in finished.advice or "memory planner" in finished.advice
    assert "Traceback" not in finished.message
    log = (runner.run_dir.path / "error.log").read_text()
    assert "Traceback" in log and "OutOfMemoryError" in log
    assert runner.run_dir.read_status()["advice"] == finished.advice


def test_unexpected_error_is_one_line_with_the_traceback_in_error_log(tiny_model_dir, tmp_path,
                                                                       monkeypatch):
    from trl import SFTTrainer

    def broken(self, *args, **kwargs):
        raise KeyError("labels")

    monkeypatch.setattr(SFTTrainer, "train", broken)
    runner = TrainingRunner(tiny_cfg(tiny_model_dir, tmp_path))
    finished = runner.run()
    assert finished.state == "failed"
    assert finished.message.startswith("KeyError: 'labels'") and "\n" not in finished.message
    assert "error.log" in finished.message
    assert "Traceback" in (runner.run_dir.path / "error.log").read_text()

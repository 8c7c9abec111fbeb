"""Preference tuning (DPO/KTO) as a user meets it: `ft-tui train --method dpo` logs reward
margins and saves an adapter PEFT loads; the wrong kind of file is named before any model
loads; bad pairs are listed by line; a stopped DPO run resumes with continuous steps."""

import json
from pathlib import Path

import pytest

from ft_tui.cli import main
from ft_tui.core.config.settings import ConfigError, RunConfig
from ft_tui.core.run.events import PreferenceLog, RunStarted, StepLog
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training import SetupError, TrainingRunner, resume_runner
from ft_tui.core.objectives.base import load_rows
from ft_tui.core.training.preference_watch import PreferenceWatchdog
from tests.test_training_runner import write_data

PAIRS = [
    ("How do I reset my password?", "Open Settings, choose Security, then Reset password.", "No idea."),
    ("The printer on floor 3 is jammed.", "I have opened a ticket for facilities.", "Printers are bad."),
    ("I was charged twice for order 48213.", "Sorry! I have refunded one payment.", "Not my problem."),
    ("Classify the ticket.", "BILL-02", "cats"),
    ("Extract the fields as JSON.", '{"order_id": "48213"}', "order"),
    ("How do I reset my password? The link expired.", "I sent a new link.", "Try later maybe."),
    ("Refund order 48213 please.", "Done: the refund is on its way.", "Why?"),
    ("Printer on floor 2 prints blank pages.", "Facilities will replace the toner today.", "ok"),
]


def write_pairs(path: Path, rows=None) -> Path:
    rows = rows if rows is not None else [
        {"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _train(capsys, *argv):
    code = main(["train", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _dpo_args(model, data, tmp_path, name, *extra):
    return ("--model", model, "--data", data, "--method", "dpo", "--output-dir", tmp_path / "runs",
            "--run-name", name, "--batch-size", 2, "--lr", 1e-3, *extra)


def test_cli_dpo_logs_reward_margins_and_saves_an_adapter_peft_loads(tiny_model_dir, tmp_path, capsys):
    data = write_pairs(tmp_path / "pairs.jsonl")
    code, out, err = _train(capsys, *_dpo_args(tiny_model_dir, data, tmp_path, "dpo", "--max-steps", 6))
    assert code == 0, err
    run = RunDir(tmp_path / "runs" / "dpo")
    cfg = run.load_config()
    assert (cfg.objective, cfg.method) == ("dpo", "lora")
    events = run.read_events()
    prefs = [e for e in events if isinstance(e, PreferenceLog) and e.split == "train"]
    assert [e.step for e in prefs] == list(range(1, 7))
    assert all(e.margin is not None and e.accuracy is not None for e in prefs)
    # The adapter is trained against the base with the adapter switched off: rewards start
    # at exactly zero and the margin then opens up.
    assert prefs[0].margin == pytest.approx(0.0, abs=1e-6)
    assert prefs[-1].margin > 0
    assert any(isinstance(e, PreferenceLog) and e.split == "eval" for e in events)
    start = next(e for e in events if isinstance(e, RunStarted))
    assert start.method == "dpo lora" and 0 < start.trainable_params < start.total_params

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    tuned = PeftModel.from_pretrained(base, str(run.adapter_dir))
    b = [p for n, p in tuned.named_parameters() if "lora_B" in n]
    assert b and any(torch.count_nonzero(p) > 0 for p in b)      # trained, not the zero init
    assert not any(".ref." in n for n, _ in tuned.named_parameters())  # no reference copy saved


def test_pair_file_to_sft_and_sft_file_to_dpo_name_format_and_method(tiny_model_dir, tmp_path, capsys):
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    sft = write_data(tmp_path / "sft.jsonl")
    runs = tmp_path / "runs"
    code, _, err = _train(capsys, "--model", tiny_model_dir, "--data", pairs, "--output-dir", runs)
    assert code == 2
    assert "preference pairs (prompt, chosen, rejected)" in err and "--method dpo" in err
    code, _, err = _train(capsys, "--model", tiny_model_dir, "--data", sft, "--method", "dpo",
                          "--output-dir", runs)
    assert code == 2
    assert "openai_chat" in err and "--method sft" in err and "Traceback" not in err
    assert not runs.exists()                                   # refused before any run directory


def test_bad_pairs_are_reported_with_their_lines_and_nothing_dropped(tmp_path):
    rows = [{"prompt": "a", "chosen": "good", "rejected": "bad"},
            {"prompt": "b", "chosen": "same", "rejected": "same"},
            {"prompt": "c", "chosen": "", "rejected": "bad"},
            {"prompt": "d", "chosen": "good", "rejected": "worse"}]
    path = write_pairs(tmp_path / "p.jsonl", rows)
    with pytest.raises(SetupError) as info:
        load_rows(path)
    message = str(info.value)
    assert "2 bad row(s)" in message and "line 2:" in message and "line 3:" in message
    assert "same answer" in message


def _kto_trl(i, prompt, answer):
    return {"prompt": prompt, "completion": answer, "label": bool(i % 2)}


def _kto_llama_factory(i, prompt, answer):
    return {"conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": answer}],
            "kto_tag": bool(i % 2)}


@pytest.mark.parametrize("layout", [_kto_trl, _kto_llama_factory])
def test_kto_rows_train_with_kto(tiny_model_dir, tmp_path, capsys, layout):
    rows = [layout(i, p, c if i % 2 else r) for i, (p, c, r) in enumerate(PAIRS)]
    data = write_pairs(tmp_path / "kto.jsonl", rows)
    code, _, err = _train(capsys, "--model", tiny_model_dir, "--data", data, "--method", "kto",
                          "--output-dir", tmp_path / "runs", "--run-name", "k", "--batch-size", 4,
                          "--max-steps", 2)
    assert code == 0, err
    run = RunDir(tmp_path / "runs" / "k")
    assert run.load_config().objective == "kto"
    assert any(isinstance(e, PreferenceLog) for e in run.read_events())
    code, _, err = _train(capsys, *_dpo_args(tiny_model_dir, data, tmp_path, "x"))
    assert code == 2 and "KTO rows" in err and "--method kto" in err


def test_preference_settings_are_checked_together():
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict({"objective": "dpo", "preference": {"loss_type": "kto"}})
    assert "is a KTO loss" in str(info.value)
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict({"objective": "dpo", "method": "full",
                             "preference": {"reference": "adapter_disabled"}})
    assert "needs an adapter" in str(info.value)
    with pytest.raises(ConfigError):
        RunConfig.from_dict({"preference": {"beta": 0}})
    assert RunConfig.from_dict({"objective": "kto"}).preference.loss_type == "sigmoid"


def test_watchdog_warns_when_accuracy_stays_at_chance_or_the_margin_collapses():
    dog = PreferenceWatchdog(window=3)
    alerts = [a for step in range(1, 10) for a in dog.on_log(step, 0.0, 0.5)]
    assert [a.code for a in alerts] == ["accuracy_at_chance"]
    dog = PreferenceWatchdog(window=3)
    margins = [0.1, 0.3, 0.5, 0.6, 0.6, 0.4, 0.1, 0.0, 0.0, 0.0]
    alerts = [a for step, m in enumerate(margins, 1) for a in dog.on_log(step, m, 1.0)]
    assert [a.code for a in alerts] == ["margin_collapsed"]
    healthy = PreferenceWatchdog(window=3)
    assert not [a for step in range(1, 20) for a in healthy.on_log(step, 0.1 * step, 0.9)]


def test_a_stopped_dpo_run_resumes_with_continuous_steps_and_margins(tiny_model_dir, tmp_path):
    data = write_pairs(tmp_path / "pairs.jsonl")
    cfg = RunConfig().with_overrides({
        "objective": "dpo", "model.name": str(tiny_model_dir), "data.train_path": str(data),
        "data.eval_fraction": 0.25, "training.max_steps": 6, "training.batch_size": 2,
        "training.gradient_accumulation": 1, "training.learning_rate": 1e-3,
        "training.save_steps": 3, "training.eval_steps": 3, "training.sample_every_steps": 0,
        "output_dir": str(tmp_path / "runs"), "run_name": "r"})

    def stop_at_3(event):
        if isinstance(event, StepLog) and event.step == 3:
            runner.request_stop()

    runner = TrainingRunner(cfg, on_event=stop_at_3)
    assert (runner.run().state, runner.run_dir.read_status()["step"]) == ("stopped", 3)
    seen = []
    finished = resume_runner(runner.run_dir.path, on_event=seen.append).run()
    assert (finished.state, finished.step) == ("done", 6), finished.message
    assert next(e for e in seen if isinstance(e, RunStarted)).start_step == 3
    events = runner.run_dir.read_events()
    assert [e.step for e in events if isinstance(e, StepLog)] == list(range(1, 7))
    prefs = [e.step for e in events if isinstance(e, PreferenceLog) and e.split == "train"]
    assert prefs == list(range(1, 7))
    tokens = [e.num_tokens for e in events if isinstance(e, StepLog)]
    assert tokens == sorted(tokens) and tokens[3] > tokens[2]      # no reset at the resume


def test_eval_of_a_dpo_run_scores_base_and_tuned_preference_accuracy(tiny_model_dir, tmp_path, capsys):
    import json as _json

    data = write_pairs(tmp_path / "pairs.jsonl")
    code, _, err = _train(capsys, *_dpo_args(tiny_model_dir, data, tmp_path, "e", "--max-steps", 8,
                                            "--set", "data.eval_fraction=0.5"))
    assert code == 0, err
    run = tmp_path / "runs" / "e"
    # The general-ability check (40 probes on a random tiny model: about 95 s) has its own tests.
    code = main(["eval", str(run), "--no-general"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = _json.loads((run / "eval.json").read_text())
    assert report["task_kind"] == "preference" and report["main_metric"] == "preference_accuracy"
    acc = report["summary"]["preference_accuracy"]
    assert report["n_examples"] == 4 and acc["base"] in (0, .25, .5, .75, 1)
    assert acc["delta"] == pytest.approx(acc["finetuned"] - acc["base"])
    # The margins are those of the tuned model: trained on the other half, it moved them.
    ex = report["examples"][0]
    assert ex["scores"]["base"]["margin"] != ex["scores"]["finetuned"]["margin"]
    assert {"reference", "rejected", "base", "finetuned"} <= set(ex)   # answers side by side
    assert "preference accuracy" in out and report["verdict"]["text"].split(":")[0] in out
    assert "**preference accuracy**" in (run / "report.md").read_text()


def test_dpo_memory_counts_both_answers_and_the_reference(monkeypatch, capsys):
    from ft_tui.core.plan.hardware import HardwareInfo
    from ft_tui.core.plan.memory import estimate
    from ft_tui.core.plan.model_profile import model_profile

    p = model_profile("llama-3.1-8b")
    sft = estimate(p, "lora", 4, 1024, False)
    dpo = estimate(p, "lora", 4, 1024, False, objective="dpo")
    # Chosen and rejected: twice the tokens carry activations; the frozen base is shared.
    assert dpo.components["activations"] == pytest.approx(2 * sft.components["activations"], rel=1e-6)
    assert dpo.components["frozen weights"] == sft.components["frozen weights"]
    assert dpo.components["reference forward (no gradients)"] > 0
    assert "reference weights (frozen copy)" not in dpo.components
    full = estimate(p, "full", 4, 1024, True, objective="dpo")
    assert full.components["reference weights (frozen copy)"] == pytest.approx(
        full.components["trainable weights"], rel=1e-6)
    pre = estimate(p, "full", 4, 1024, True, objective="dpo", reference="precomputed")
    assert "reference weights (frozen copy)" not in pre.components and pre.total_gb < full.total_gb

    gpu = HardwareInfo(gpus=[], no_gpu_reason="no GPU", cpu_cores=2, ram_total_gb=24.0,
                       ram_available_gb=20.0, disk_free_gb=50.0, disk_path="/tmp")
    monkeypatch.setattr("ft_tui.core.plan.hardware.probe", lambda output_dir=".": gpu)
    totals = {}
    for method in ("sft", "dpo"):
        assert main(["hw", "--model", "llama-3.1-8b", "--gpu-memory", "24", "--method", method,
                     "--json"]) in (0, 1)
        data = json.loads(capsys.readouterr().out)
        assert data["plan"]["objective"] == method
        totals[method] = data["estimates"]["lora"]["total_gb"]
    assert totals["dpo"] > totals["sft"]


@pytest.mark.slow   # several processes or a whole export: kept out of the ~5 min default run
def test_export_of_a_dpo_run_writes_adapter_merged_config_and_a_script_with_its_losses(
        tiny_model_dir, tmp_path, capsys):
    import os
    import subprocess
    import sys

    from ft_tui.core.export.run import export_run

    data = write_pairs(tmp_path / "pairs.jsonl")
    code, _, err = _train(capsys, *_dpo_args(tiny_model_dir, data, tmp_path, "x", "--max-steps", 3,
                                            "--set", "training.gradient_accumulation=1",
                                            "--set", "training.sample_every_steps=0"))
    assert code == 0, err
    run = RunDir(tmp_path / "runs" / "x")
    ours = [e.loss for e in run.read_events() if isinstance(e, StepLog)]
    written = export_run(run.path, tmp_path / "out", merge=True)
    assert {"adapter", "config", "script", "merged"} <= set(written)
    assert (tmp_path / "out" / "merged" / "config.json").is_file()
    script = Path(written["script"])
    text = script.read_text()
    assert "ft_tui" not in text and "DPOTrainer" in text and "'beta': 0.1" in text
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, str(script), "--output-dir", str(tmp_path / "sa")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    history = json.loads((tmp_path / "sa" / "log_history.json").read_text())
    assert [row["loss"] for row in history if "loss" in row] == pytest.approx(ours, rel=1e-4)
    assert any("rewards/margins" in row for row in history)
    assert (tmp_path / "sa" / "adapter" / "adapter_config.json").is_file()


def test_preference_verdict_needs_a_clear_gain_and_says_the_model_is_moving(tmp_path):
    """Seen on the bundled set after 10 DPO steps: 0/32 -> 1/32 pairs, every margin up."""
    from ft_tui.core.evaluate.preference import preference_verdict

    base = [-70.0 - i for i in range(32)]
    tuned = [m + 19 for m in base[:31]] + [3.0]
    summary = {"preference_accuracy": {"base": 0.0, "finetuned": 1 / 32, "delta": 1 / 32}}
    run = RunDir(tmp_path)
    verdict = preference_verdict(summary, 32, RunConfig(), run, base, tuned)
    assert verdict["finetuned_beats_base"] is False
    text = verdict["text"]
    assert "scored higher than the base model on preference accuracy, but not clearly" in text
    assert "moved toward the chosen answer on 32 of 32 pairs" in text
    clear = [m + 80 for m in base[:24]] + base[24:]
    summary = {"preference_accuracy": {"base": 0.0, "finetuned": 0.75, "delta": 0.75}}
    won = preference_verdict(summary, 32, RunConfig(), run, base, clear)
    assert won["finetuned_beats_base"] is True and won["change_ci95"][0] > 0


def test_pair_scoring_reports_progress_per_batch_with_the_same_margins(tiny_model_dir, tmp_path):
    """The Evaluate step's line moves while pairs are scored (it sat at 0/32 for the whole
    base pass on the default model), and batching does not change a margin."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ft_tui.core.evaluate.preference import score_pairs

    pairs = load_rows(write_pairs(tmp_path / "pairs.jsonl"))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    done = []
    margins = score_pairs(model, tok, pairs, "", on_done=done.append, batch_size=2)
    assert done == list(range(2, len(pairs) + 1, 2)) + ([len(pairs)] if len(pairs) % 2 else [])
    assert score_pairs(model, tok, pairs, "") == pytest.approx(margins, abs=1e-4)

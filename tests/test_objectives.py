"""The objectives (SFT, DPO, KTO, ORPO) as a user meets them: one held-out split that never
scores training rows, every data layout read into one row type, and ORPO trained, evaluated
and exported like the others."""

import json
from pathlib import Path

import pytest

from ft_tui.cli import main
from ft_tui.core.data import inspect_path, load_examples
from tests.test_dpo import write_pairs


def _write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}


def _kto_tool_row(label: bool, tool_name: str = "get_weather") -> dict:
    return {"messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": tool_name, "arguments": {"city": "Oslo"}}}]},
        {"role": "tool", "name": tool_name, "content": "4 C"},
        {"role": "assistant", "content": "4 C in Oslo." if label else "No idea."}],
        "tools": [WEATHER_TOOL], "label": label}


def test_kto_rows_with_tools_keep_them_and_a_bad_one_is_named_by_its_line(tmp_path, capsys):
    """A KTO row with `tools` used to crash the data engine ("unexpected error")."""
    good = _write_jsonl(tmp_path / "kto_tools.jsonl", [_kto_tool_row(True), _kto_tool_row(False)])
    result = load_examples(good)
    assert not list(result.errors) and result.format == "kto"
    assert [ex.label for ex in result.examples] == [True, False]
    assert result.examples[0].tools[0]["function"]["name"] == "get_weather"

    # Line 2 calls a tool its `tools` do not define: a problem at line 2, not a crash.
    bad = _write_jsonl(tmp_path / "kto_bad.jsonl", [_kto_tool_row(True), _kto_tool_row(False, "search")])
    report = inspect_path(bad)
    assert report.format == "kto"
    assert [(e.line, "search" in e.message) for e in report.errors] == [(2, True)]
    code = main(["inspect", str(bad), "--model", "none"])
    out = capsys.readouterr().out
    assert code != 2 and "unexpected error" not in out and "2" in out


def _train(capsys, *argv) -> tuple[int, str, str]:
    code = main(["train", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("method", ["dpo", "kto"])
def test_preference_eval_with_nothing_held_out_refuses_instead_of_scoring_training_pairs(
        tiny_model_dir, tmp_path, capsys, method):
    """eval_fraction 0 and no eval file: training used every pair, so evaluation refuses and
    says which setting to change (it used to score a 10 % split of the training pairs)."""
    data = write_pairs(tmp_path / "pairs.jsonl")
    if method == "kto":
        rows = [json.loads(line) for line in data.read_text().splitlines()]
        data = _write_jsonl(tmp_path / "kto.jsonl", [
            {"prompt": r["prompt"], "completion": r[side], "label": side == "chosen"}
            for r in rows for side in ("chosen", "rejected")])
    code, _, err = _train(capsys, "--model", tiny_model_dir, "--data", data, "--method", method,
                          "--output-dir", tmp_path / "runs", "--run-name", "r", "--max-steps", 1,
                          "--batch-size", 2, "--set", "data.eval_fraction=0",
                          "--set", "training.sample_every_steps=0")
    assert code == 0, err
    code = main(["eval", str(tmp_path / "runs" / "r")])
    out, err = capsys.readouterr()
    assert code != 0
    assert "data.eval_path" in err + out and "data.eval_fraction" in err + out
    assert not (tmp_path / "runs" / "r" / "eval.json").exists()


def _train_orpo(capsys, tiny_model_dir, tmp_path):
    """Three ORPO steps on the bundled preference set (what `--method orpo` trains on when
    no data is given)."""
    from ft_tui.core.run.rundir import RunDir

    code, _, err = _train(capsys, "--model", tiny_model_dir, "--method", "orpo",
                          "--output-dir", tmp_path / "runs", "--run-name", "o", "--max-steps", 3,
                          "--batch-size", 2, "--lr", 1e-3,
                          "--set", "training.gradient_accumulation=1",
                          "--set", "training.sample_every_steps=0", "--set", "eval.max_examples=6",
                          "--set", "eval.max_new_tokens=8")
    assert code == 0, err
    return RunDir(tmp_path / "runs" / "o")


def test_orpo_trains_on_the_bundled_pairs_logs_its_signals_and_is_scored_by_preference_accuracy(
        tiny_model_dir, tmp_path, capsys):
    """TRL's ORPOTrainer (no reference model) logs reward margins for the dashboard, and the
    run is evaluated like DPO; its exported script imports ORPO from where TRL keeps it."""
    from ft_tui.core.export.run import write_standalone_script
    from ft_tui.core.run.events import PreferenceLog, RunStarted

    run = _train_orpo(capsys, tiny_model_dir, tmp_path)
    cfg = run.load_config()
    assert cfg.objective == "orpo" and cfg.data.train_path.endswith("preference/train.jsonl")
    events = run.read_events()
    start = next(e for e in events if isinstance(e, RunStarted))
    assert start.method == "orpo lora" and 0 < start.trainable_params < start.total_params
    prefs = [e for e in events if isinstance(e, PreferenceLog) and e.split == "train"]
    assert [e.step for e in prefs] == [1, 2, 3]
    assert all(e.margin is not None and e.accuracy is not None for e in prefs)

    assert main(["eval", str(run.path), "--no-general"]) == 0, capsys.readouterr().err
    report = json.loads(run.eval_path.read_text())
    assert report["main_metric"] == "preference_accuracy" and report["n_examples"] == 6
    assert report["settings"]["objective"] == "orpo"

    text = write_standalone_script(run.path, tmp_path / "out").read_text()
    assert "from trl.experimental.orpo import ORPOConfig, ORPOTrainer" in text
    assert "ft_tui" not in text and "needs no reference model" in text


@pytest.mark.slow
def test_the_exported_orpo_script_retrains_the_same_losses(tiny_model_dir, tmp_path, capsys):
    import os
    import subprocess
    import sys

    from ft_tui.core.export.run import export_run
    from ft_tui.core.run.events import StepLog

    run = _train_orpo(capsys, tiny_model_dir, tmp_path)
    ours = [e.loss for e in run.read_events() if isinstance(e, StepLog)]
    written = export_run(run.path, tmp_path / "out")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "TRL_EXPERIMENTAL_SILENCE": "1"}
    proc = subprocess.run([sys.executable, written["script"], "--output-dir", str(tmp_path / "sa")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    history = json.loads((tmp_path / "sa" / "log_history.json").read_text())
    assert [row["loss"] for row in history if "loss" in row] == pytest.approx(ours, rel=1e-4)
    assert (tmp_path / "sa" / "adapter" / "adapter_config.json").is_file()


def test_orpo_needs_less_memory_than_dpo_and_says_why(capsys):
    from ft_tui.core.plan.memory import estimate
    from ft_tui.core.plan.model_profile import model_profile

    p = model_profile("llama-3.1-8b")
    sft = estimate(p, "lora", 4, 1024, False)
    dpo = estimate(p, "lora", 4, 1024, False, objective="dpo")
    orpo = estimate(p, "lora", 4, 1024, False, objective="orpo")
    # Chosen and rejected both carry activations, as in DPO; no reference pass or copy.
    assert orpo.components["activations"] == pytest.approx(dpo.components["activations"])
    assert not any("reference" in name for name in orpo.components)
    assert sft.total_gb < orpo.total_gb < dpo.total_gb
    assert main(["hw", "--model", "llama-3.1-8b", "--gpu-memory", "24", "--method", "orpo",
                 "--json"]) in (0, 1)
    shown = json.loads(capsys.readouterr().out)
    assert shown["plan"]["objective"] == "orpo"
    assert any("no reference model" in why for why in shown["recommendation"]["reasons"])


def test_every_objective_is_a_config_choice_and_a_train_method():
    from ft_tui.commands.train import OBJECTIVE_METHODS
    from ft_tui.core.config.settings import OBJECTIVES
    from ft_tui.core.objectives import NAMES, objective_of

    assert set(NAMES) == set(OBJECTIVES) == set(OBJECTIVE_METHODS)
    assert objective_of("orpo").evaluation == "pairs" and not objective_of("orpo").reference


def test_a_model_without_chat_template_is_prompted_alike_in_training_and_baseline(
        tiny_model_dir, tmp_path):
    """One chat-template rule: a base model with no template used to be refused by training
    while the baseline quietly gave it ChatML; now every step gives it the same fallback,
    and training says so."""
    import shutil

    from ft_tui.core.config.settings import RunConfig
    from ft_tui.core.models.loader import FALLBACK_NOTE, base_and_tokenizer
    from ft_tui.core.training.builder import load_run_tokenizer

    bare = tmp_path / "base-model"
    shutil.copytree(tiny_model_dir, bare)
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    config_file = bare / "tokenizer_config.json"
    settings = json.loads(config_file.read_text())
    settings.pop("chat_template", None)
    config_file.write_text(json.dumps(settings))
    cfg = RunConfig.from_dict({"model": {"name": str(bare)}})

    notes: list[str] = []
    training, _ = load_run_tokenizer(cfg, log=lambda msg: None, note=notes.append)
    _, baseline = base_and_tokenizer(cfg)
    messages = [{"role": "user", "content": "Reset my password"}]
    assert baseline.fallback and notes == [FALLBACK_NOTE]
    assert (training.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            == baseline.tokenizer.apply_chat_template(messages, tokenize=False,
                                                      add_generation_prompt=True))


@pytest.mark.parametrize("asked, named", [({"few_shot": 2}, "--few-shot"), ({"judge": True}, "judge")])
def test_preference_eval_refuses_few_shot_and_a_judge_instead_of_ignoring_them(asked, named):
    """They need generated answers to score; a DPO run is scored on log-probabilities, so
    asking for them is refused with the reason (they used to be dropped without a word)."""
    from ft_tui.core.config.settings import RunConfig
    from ft_tui.core.evaluate.preference import evaluate_preference_run
    from ft_tui.core.evaluate.report import EvalError

    cfg = RunConfig.from_dict({"objective": "dpo"})
    with pytest.raises(EvalError, match=named) as info:
        evaluate_preference_run(None, cfg, None, **asked)
    assert "preference accuracy" in str(info.value)

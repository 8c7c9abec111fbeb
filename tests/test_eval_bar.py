"""`ft-tui eval` judges by the wizard's bar: the best prompted baseline measured (a
`ft-tui baseline --json` file, or the Decide step's from ./ft-tui.wizard.json), printed
under the verdict, in --json, and closing --gate when the fine-tune does not beat it."""

import json

import pytest

from ft_tui.cli import main
from ft_tui.core.evaluate import general as ga
from tests.fixtures.eval_run import build_run_dir


@pytest.fixture()
def run_path(tmp_path, tiny_model_dir, isolated_cache, monkeypatch):
    monkeypatch.chdir(tmp_path)   # no wizard file here unless a test writes one
    return build_run_dir(tmp_path, tiny_model_dir)


def measured(run_path, model, **changes):
    """A baseline in the shape `ft-tui baseline --json` prints, for this run's data and model:
    3-shot prompting scores 1.00, which no fine-tune can beat."""
    return {"data_path": str(run_path.parent / "data" / "train.jsonl"), "model": str(model),
            "task_kind": "labels", "main_metric": "macro_f1", "n_examples": 20, "few_shot": 3,
            "scores": {"zero_shot": {"macro_f1": 0.0}, "few_shot": {"macro_f1": 1.0}},
            "base_answers_from_cache": 0, **changes}


def test_a_baseline_file_is_the_bar_and_closes_the_gate(run_path, tiny_model_dir, tmp_path,
                                                       monkeypatch, capsys):
    # the evaluation's own verdict says ship: only the measured bar can close the gate
    monkeypatch.setattr(ga, "ship_decision", lambda beats, general: (True, "Ship: test."))
    bar_file = tmp_path / "b.json"
    bar_file.write_text(json.dumps(measured(run_path, tiny_model_dir)))
    args = ["eval", str(run_path), "--max-examples", "2", "--no-general", "--gate"]
    assert main(args + ["--baseline", str(bar_file)]) == 3
    captured = capsys.readouterr()
    out, err = " ".join(captured.out.split()), " ".join(captured.err.split())
    assert "✗ Bar: Fine-tuned" in out and f"1.00 (3-shot, from {bar_file}, 20 examples)" in out
    assert "gate closed:" in err and "does not beat the best prompt, 1.00 (3-shot" in err
    # the last word is the bar's: the evaluation's "Ship" sentence is not printed beside it
    assert "Don't ship: fine-tuned" in out and "does not beat the best prompt measured, 1.00" in out
    assert "Ship: test." not in out
    # without a measured baseline the evaluation's verdict decides alone
    assert main(args) == 0
    assert "this evaluation" in " ".join(capsys.readouterr().out.split())


def test_the_wizards_measured_baseline_is_used_and_shown_in_json(run_path, tiny_model_dir,
                                                                 tmp_path, capsys):
    (tmp_path / "ft-tui.wizard.json").write_text(json.dumps(
        {"current_step": "evaluate", "baseline": measured(run_path, tiny_model_dir)}))
    assert main(["eval", str(run_path), "--max-examples", "2", "--no-general", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["macro_f1"]) == {"base", "finetuned", "delta"}   # the summary is kept
    bar = printed["prompted_bar"]
    assert (bar["score"], bar["label"], bar["where"], bar["beats"]) == (
        1.0, "3-shot", "measured in Decide", False)
    assert printed["ship"]["ship"] is False
    # measured for another model: not comparable, said, and the bar is the evaluation's base
    (tmp_path / "ft-tui.wizard.json").write_text(json.dumps(
        {"baseline": measured(run_path, "some-other-model")}))
    assert main(["eval", str(run_path), "--max-examples", "2", "--no-general", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["prompted_bar"]["where"] == "this evaluation"
    assert "measured for model some-other-model" in captured.err
    # a wizard opened with --config other.yaml keeps its progress in other.wizard.json
    (tmp_path / "other.wizard.json").write_text(json.dumps(
        {"baseline": measured(run_path, tiny_model_dir)}))
    assert main(["eval", str(run_path), "--max-examples", "2", "--no-general", "--json",
                 "--wizard-config", str(tmp_path / "other.yaml")]) == 0
    assert json.loads(capsys.readouterr().out)["prompted_bar"]["score"] == 1.0


@pytest.mark.parametrize("text, said", [("not json", "not JSON"),
                                        ('{"scores": {}}', "not a baseline")])
def test_a_bad_baseline_file_is_a_usage_error_before_evaluating(run_path, tmp_path, capsys,
                                                                text, said):
    bad = tmp_path / "b.json"
    bad.write_text(text)
    assert main(["eval", str(run_path), "--baseline", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"--baseline {bad}: {said}" in err and "Traceback" not in err
    assert not (run_path / "eval.json").exists()

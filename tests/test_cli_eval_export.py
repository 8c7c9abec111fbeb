"""`ft-tui eval` and `ft-tui export`: output, files and exit codes."""

import json
import subprocess
import sys

import pytest

from ft_tui.cli import main
from tests.fixtures.eval_run import build_run_dir


@pytest.fixture()
def run_path(tmp_path, tiny_model_dir, isolated_cache):
    return build_run_dir(tmp_path, tiny_model_dir)


def test_missing_run_dir_is_a_usage_error_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ft_tui", "eval", str(tmp_path / "nope")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "nope: no such run directory" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("command", ["eval", "export"])
def test_run_without_adapter_says_train_first(command, tmp_path, tiny_model_dir, capsys):
    run_path = build_run_dir(tmp_path, tiny_model_dir, with_adapter=False)
    assert main([command, str(run_path)]) == 2
    err = capsys.readouterr().err
    assert "no trained adapter yet" in err and f"ft-tui train {run_path / 'config.yaml'}" in err


def test_stopped_run_without_adapter_says_resume(tmp_path, tiny_model_dir, capsys):
    from ft_tui.core.run.rundir import RunDir

    run_path = build_run_dir(tmp_path, tiny_model_dir, with_adapter=False)
    RunDir(run_path).write_status("stopped", step=12)
    assert main(["eval", str(run_path)]) == 2
    assert f"ft-tui train --resume {run_path}" in capsys.readouterr().err


def test_eval_prints_the_table_and_verdict(run_path, capsys):
    assert main(["eval", str(run_path), "--max-examples", "2"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the table wraps long lines
    for text in ("metric", "base", "fine-tuned", "delta", "macro-F1 (main)",
                 "Fine-tuning did not beat the prompted base model", str(run_path / "eval.json")):
        assert text in out
    assert json.loads((run_path / "eval.json").read_text())["n_examples"] == 2


def test_eval_json_prints_the_summary_object_and_the_bar(run_path, capsys):
    assert main(["eval", str(run_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    bar, ship = printed.pop("prompted_bar"), printed.pop("ship")
    verdict = json.loads((run_path / "eval.json").read_text())["verdict"]
    assert ship == {"ship": verdict["ship"], "reason": verdict["ship_reason"]}
    assert printed == json.loads((run_path / "eval.json").read_text())["summary"]
    assert bar["where"] == "this evaluation" and bar["score"] == printed["macro_f1"]["base"]
    assert set(printed["macro_f1"]) == {"base", "finetuned", "delta"}


def test_eval_with_missing_data_fails_with_one_line(run_path, capsys):
    (run_path.parent / "data" / "eval.jsonl").unlink()
    assert main(["eval", str(run_path)]) == 1
    err = capsys.readouterr().err
    assert "eval.jsonl: data file not found (config data.eval_path)" in err
    assert "Traceback" not in err


def test_eval_with_broken_config_fails_clearly(run_path, capsys):
    (run_path / "config.yaml").write_text("training:\n  learning_rate: fast\n")
    assert main(["eval", str(run_path)]) == 1
    assert "training.learning_rate: expected a number, got 'fast'" in capsys.readouterr().err


def test_negative_max_examples_is_a_usage_error(run_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", str(run_path), "--max-examples", "-3"])
    assert exit_info.value.code == 2
    assert "must be 0 or more" in capsys.readouterr().err


def test_export_prints_where_each_artefact_went(run_path, capsys, monkeypatch):
    monkeypatch.delenv("LLAMA_CPP_DIR", raising=False)
    assert main(["export", str(run_path), "--merge", "--gguf"]) == 0
    out = capsys.readouterr().out
    export = run_path / "export"
    for name in ("adapter", "config.yaml", "train_standalone.py", "merged"):
        assert str(export / name) in out
        assert (export / name).exists()
    assert f"python convert_hf_to_gguf.py {export / 'merged'} --outfile {export / 'run.gguf'}" in out


def test_export_to_a_chosen_folder(run_path, tmp_path, capsys):
    assert main(["export", str(run_path), "--out", str(tmp_path / "ship")]) == 0
    assert (tmp_path / "ship" / "adapter" / "adapter_config.json").is_file()
    assert not (tmp_path / "ship" / "merged").exists()  # merging only on request

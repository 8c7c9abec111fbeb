"""Examples whose answer truncation to max_length cuts off entirely (a long prompt fills
the limit) are named: `ft-tui inspect` lists their lines and count, and training says how
many there are, that they add no loss, before the model is loaded, never silently."""

import json

import pytest

from ft_tui.cli import main

LONG_PROMPT = "The printer on floor 3 is jammed again and nobody can print invoices. " * 8


def chat(user, answer):
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def mixed_file(tmp_path):
    # lines 2 and 4: the prompt alone is longer than 64 tokens, so the answer is cut off
    return write(tmp_path / "train.jsonl", [
        chat("Printer jammed", "HW-01"), chat(LONG_PROMPT, "HW-01"),
        chat("Charged twice", "BILL-02"), chat(LONG_PROMPT + " again", "HW-01"),
        chat("Reset my password", "ACC-03")])


def test_inspect_names_the_examples_left_with_no_trained_token(tmp_path, capsys, tiny_model_dir):
    path = mixed_file(tmp_path)
    code = main(["inspect", str(path), "--model", str(tiny_model_dir), "--max-length", "64", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0                                   # three examples still train
    warning = next(w for w in data["warnings"] if w["code"] == "no_trained_token")
    assert warning["lines"] == [2, 4]
    assert "2 of 5 example(s)" in warning["message"] and "max_length 64" in warning["message"]
    assert data["tokens"]["n_untrained"] == 2

    assert main(["inspect", str(path), "--model", str(tiny_model_dir), "--max-length", "64"]) == 0
    out = capsys.readouterr().out
    assert "no_trained_token" in out and "lines 2, 4" in out
    assert "5 examples ready, 2 of them with no trained token after truncation" in out


def test_inspect_fails_when_every_answer_is_cut_off(tmp_path, capsys, tiny_model_dir):
    path = write(tmp_path / "train.jsonl", [chat(LONG_PROMPT + str(i), "HW-01") for i in range(3)])
    code = main(["inspect", str(path), "--model", str(tiny_model_dir), "--max-length", "64"])
    out = capsys.readouterr().out
    assert code == 1
    assert "examples ready" not in out and "no example has a trained token" in out
    # a limit that fits them: nothing to say
    assert main(["inspect", str(path), "--model", str(tiny_model_dir), "--max-length", "512",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"]["n_untrained"] == 0


def _cfg(path, tmp_path, model_dir, **more):
    from ft_tui.core.config.settings import RunConfig

    return RunConfig().with_overrides({"model.name": str(model_dir), "data.train_path": str(path),
                                       "data.eval_fraction": 0.0, "data.max_length": 64,
                                       "output_dir": str(tmp_path / "runs"), **more})


def test_training_rows_leave_them_out_and_say_so(tmp_path, tiny_model_dir):
    from ft_tui.core.objectives import load_training_data
    from tests.fixtures.tiny import build_tokenizer

    data = load_training_data(_cfg(mixed_file(tmp_path), tmp_path, tiny_model_dir))
    notes = data.tokenize(build_tokenizer())
    assert len(data.train_rows) == 3
    (note,) = [n for n in notes if "max_length" in n]
    assert note.startswith("2 training example(s) have no trained token within data.max_length 64")
    assert "(lines 2, 4)" in note and "contribute no loss" in note
    # packing never cuts an example, so nothing is left out
    packed = load_training_data(_cfg(mixed_file(tmp_path), tmp_path, tiny_model_dir,
                                     **{"training.packing": True}))
    assert packed.tokenize(build_tokenizer()) == [] and len(packed.train_rows) == 5


def test_a_run_whose_every_answer_is_cut_off_fails_before_the_model_loads(tmp_path, tiny_model_dir,
                                                                          monkeypatch):
    from ft_tui.core.training import builder
    from ft_tui.core.training.runner import TrainingRunner

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model was loaded although no example trains")

    monkeypatch.setattr(builder, "load_model_and_tokenizer", must_not_load)
    path = write(tmp_path / "train.jsonl", [chat(LONG_PROMPT + str(i), "HW-01") for i in range(4)])
    finished = TrainingRunner(_cfg(path, tmp_path, tiny_model_dir, run_name="cut")).run()
    assert finished.state == "failed"
    assert "no training example has a trained token within data.max_length 64" in finished.message
    assert "lines 1, 2, 3, 4" in finished.message


def test_training_says_the_count_before_the_model_loads(tmp_path, tiny_model_dir, monkeypatch):
    from ft_tui.core.run.events import TrainWarning
    from ft_tui.core.training import builder
    from ft_tui.core.training.runner import TrainingRunner

    def model_load(*args, **kwargs):   # everything said before this was said before the load
        raise RuntimeError("model load reached")

    monkeypatch.setattr(builder, "load_model_and_tokenizer", model_load)
    seen = []
    finished = TrainingRunner(_cfg(mixed_file(tmp_path), tmp_path, tiny_model_dir, run_name="mixed"),
                              on_event=seen.append).run()
    assert "model load reached" in finished.message
    notes = [e.message for e in seen if isinstance(e, TrainWarning)]
    assert any(m.startswith("2 training example(s) have no trained token within data.max_length 64")
               for m in notes)


@pytest.mark.anyio
async def test_the_data_step_names_them(tmp_path, monkeypatch,
                                                                  tiny_model_dir):
    from textual.widgets import Static

    from ft_tui.tui.app import FtTuiApp
    from ft_tui.tui.steps.data import DataStep
    from tests.tui.render_text import plain
    from tests.tui.test_data_step import _settle

    monkeypatch.chdir(tmp_path)
    mixed_file(tmp_path)
    app = FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))
    app.state.cfg = app.state.cfg.with_overrides(
        {"data.train_path": "train.jsonl", "model.name": str(tiny_model_dir),
         "data.max_length": 64})
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await _settle(app, pilot)
        step = app.query_one(DataStep)
        status = plain(step.query_one("#data-status", Static))
        assert status.startswith("✓") and "2 with no trained token after truncation" in status
        warnings = plain(step.query_one("#warnings", Static))
        assert "no_trained_token" in warnings and "2, 4" in warnings

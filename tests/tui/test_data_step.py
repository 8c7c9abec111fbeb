"""The Data step on small files written here, with the tiny test model's tokenizer."""

import asyncio
import json

import pytest
from textual.widgets import DataTable, Input, Static

from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.messages import ConfigChanged, GoToStep, StepCompleted
from ft_tui.tui.steps.data import DataStep
from ft_tui.tui.widgets.histogram import TokenHistogram
from ft_tui.tui.widgets.path_suggester import PathSuggester
from tests.tui.render_text import plain

pytestmark = pytest.mark.anyio


def _chat(user, answer):
    return json.dumps({"messages": [{"role": "user", "content": user},
                                    {"role": "assistant", "content": answer}]})


ROWS = [
    _chat("The printer is jammed", "HW-01"),
    _chat("I was charged twice", "BILL-02"),
    _chat("Reset my password please", "ACC-03"),
    '{"messages": [{"role": "user", "content": "broken json"',          # line 4: invalid JSON
    _chat("The screen flickers", "HW-01"),
    _chat("The printer is jammed", "HW-01"),                             # line 6: repeats line 1
    _chat("Refund my order", "BILL-02"),
    _chat("Cannot log in", "ACC-03"),
]


@pytest.fixture()
def data_app(tmp_path, monkeypatch, tiny_model_dir):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.jsonl").write_text("\n".join(ROWS) + "\n")
    app = FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))
    app.state.cfg = app.state.cfg.with_overrides(
        {"data.train_path": "train.jsonl", "model.name": str(tiny_model_dir)})
    return app


async def _settle(app, pilot):
    """Let the Data step's workers finish and their messages land."""
    for _ in range(3):
        ours = [w for w in app.workers if w.group in ("inspect", "data-action")]
        if ours:  # (an empty list would mean "all", e.g. a file tree's cancelled loader)
            await app.workers.wait_for_complete(ours)
        await pilot.pause()


async def test_inspection_reports_format_errors_warnings_tokens_and_samples(data_app):
    app = data_app
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await _settle(app, pilot)
        step = app.query_one(DataStep)
        status = plain(step.query_one("#data-status", Static))
        assert "openai_chat" in status and "7 valid examples" in status and "1 errors" in status

        table = step.query_one("#errors-table", DataTable)
        assert table.row_count == 1
        assert [str(c) for c in table.get_row_at(0)][:2] == ["4", "invalid_json"]
        table.focus()
        table.move_cursor(row=0)
        await pilot.pause()
        raw = plain(step.query_one("#raw-line", Static))
        assert "4 │" in raw and "broken json" in raw     # the raw line, with its number

        warnings = plain(step.query_one("#warnings", Static))
        assert "duplicate" in warnings and "1↔6" in warnings

        histogram = step.query_one(TokenHistogram)
        assert len(histogram.lengths) == 7 and min(histogram.lengths) > 0
        assert "median" in plain(step.query_one("#token-stats", Static))
        labels = plain(step.query_one("#labels", Static))
        assert "HW-01" in labels and "BILL-02" in labels

        sample = plain(step.query_one("#chat", Static))
        assert "printer is jammed" in sample and "HW-01" in sample
        await pilot.press("right_square_bracket")
        assert "charged twice" in plain(step.query_one("#chat", Static))
        assert "Example 2 of 7 (line 2)" in plain(step.query_one("#sample-pos", Static))


async def test_cleaning_writes_new_files_and_never_touches_the_original(data_app, tmp_path):
    app = data_app
    original = (tmp_path / "train.jsonl").read_bytes()
    seen = []
    async with app.run_test(size=(120, 36), message_hook=seen.append) as pilot:
        await pilot.press("2")
        await _settle(app, pilot)
        step = app.query_one(DataStep)
        step.query_one("#dedupe").press()
        await _settle(app, pilot)
        cleaned = tmp_path / "train.cleaned.jsonl"
        assert cleaned.exists()
        assert str(cleaned.name) in plain(step.query_one("#action-log", Static))
        kept = cleaned.read_text().splitlines()
        assert len(kept) == len(ROWS) - 1 and "broken json" in kept[3]   # only the repeat left

        # the split works on the deduplicated file, so the repeat does not come back
        step.query_one("#split").press()
        await _settle(app, pilot)
        train = tmp_path / "train.cleaned.train.jsonl"
        held_out = tmp_path / "train.cleaned.eval.jsonl"
        assert train.exists() and held_out.exists()
        assert len(train.read_text().splitlines()) + len(held_out.read_text().splitlines()) == 6

        step.query_one("#use-new").press()
        await _settle(app, pilot)
        assert app.state.cfg.data.train_path.endswith("train.cleaned.train.jsonl")
        assert app.state.cfg.data.eval_path.endswith("train.cleaned.eval.jsonl")
        assert any(isinstance(m, ConfigChanged) and not m.forwarded for m in seen)
    assert (tmp_path / "train.jsonl").read_bytes() == original


async def test_a_missing_file_gets_one_clear_message(data_app):
    app = data_app
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await _settle(app, pilot)
        step = app.query_one(DataStep)
        path_input = step.query_one("#data-path", Input)
        path_input.value = "nope.jsonl"
        path_input.focus()
        await pilot.press("enter")
        await _settle(app, pilot)
        status = plain(step.query_one("#data-status", Static))
        assert "nope.jsonl: no such file" in status
        assert app.state.cfg.data.train_path == "nope.jsonl"
        await pilot.press("escape", "c")   # cannot continue without a usable file
        assert app.query_one("#steps").current == "data"


async def test_continue_completes_the_step_and_opens_hardware(data_app):
    app = data_app
    seen = []
    async with app.run_test(size=(120, 36), message_hook=seen.append) as pilot:
        await pilot.press("2")
        await _settle(app, pilot)
        app.query_one(DataStep).action_continue()
        await pilot.pause()
    assert any(isinstance(m, StepCompleted) and m.step_id == "data" for m in seen)
    assert any(isinstance(m, GoToStep) and m.step_id == "hardware" for m in seen)


def test_path_suggester_completes_folders_and_data_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").touch()
    (tmp_path / "data" / "notes.md").touch()
    suggest = PathSuggester().get_suggestion
    assert asyncio.run(suggest("da")) == "data/"
    assert asyncio.run(suggest("data/t")) == "data/train.jsonl"
    assert asyncio.run(suggest("data/n")) is None        # not a data file
    assert asyncio.run(suggest(str(tmp_path / "data" / "tr"))) == str(tmp_path / "data" / "train.jsonl")


async def test_browse_opens_a_file_tree_and_picking_a_file_inspects_it(data_app, tmp_path):
    from ft_tui.tui.screens.file_picker import DataTree, FilePicker

    other = tmp_path / "other.jsonl"
    other.write_text("\n".join(ROWS[:3]) + "\n")
    app = data_app
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await _settle(app, pilot)
        await pilot.press("o")
        assert isinstance(app.screen, FilePicker)
        tree = app.screen.query_one(DataTree)
        shown = [p.name for p in tree.filter_paths(tmp_path.iterdir())]
        assert "other.jsonl" in shown and "ft-tui.yaml" not in shown   # data files only
        # Backspace shows the parent folder, so a file beside the project is reachable.
        await pilot.press("backspace")
        await pilot.pause()
        assert tree.path == tmp_path.resolve().parent
        assert str(tmp_path.resolve().parent) in str(app.screen.query_one("#picker-hint").content)
        app.screen.dismiss(str(other))
        await _settle(app, pilot)
        assert app.state.cfg.data.train_path == str(other)
        # The Data step's tabs have keys too.
        from textual.widgets import TabbedContent
        app.screen.set_focus(None)
        tabs = app.query_one("#data-tabs", TabbedContent)
        before = tabs.active
        await pilot.press("greater_than_sign")
        assert tabs.active != before
        await pilot.press("less_than_sign")
        assert tabs.active == before
        status = plain(app.query_one(DataStep).query_one("#data-status", Static))
        assert "3 valid examples" in status


async def test_samples_tab_marks_every_trained_turn(tmp_path, monkeypatch, tiny_model_dir):
    monkeypatch.chdir(tmp_path)
    turns = [{"role": "user", "content": "Printer jammed?"}, {"role": "assistant", "content": "HW-01"},
             {"role": "user", "content": "Charged twice?"},
             {"role": "assistant", "content": "BILL-02", "weight": 0},
             {"role": "user", "content": "Cannot log in"}, {"role": "assistant", "content": "ACC-03"}]
    (tmp_path / "train.jsonl").write_text(json.dumps({"messages": turns}) + "\n")
    app = FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))
    app.state.cfg = app.state.cfg.with_overrides(
        {"data.train_path": "train.jsonl", "model.name": str(tiny_model_dir)})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await _settle(app, pilot)
        sample = plain(app.query_one(DataStep).query_one("#chat", Static))
        assert sample.count("assistant · trained") == 2       # HW-01 and ACC-03
        assert sample.count("assistant · context") == 1       # BILL-02 has weight 0
        assert sample.count("user · context") == 3


async def test_choosing_another_training_file_resets_the_old_eval_file(data_app, tmp_path):
    app = data_app
    (tmp_path / "other.jsonl").write_text("\n".join(ROWS) + "\n")
    app.state.cfg = app.state.cfg.with_overrides({"data.eval_path": "train_eval.jsonl"})
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await _settle(app, pilot)
        step = app.query_one(DataStep)
        path_input = step.query_one("#data-path", Input)
        path_input.value = "other.jsonl"
        path_input.focus()
        await pilot.press("enter")
        await _settle(app, pilot)
        assert app.state.cfg.data.train_path == "other.jsonl"
        assert app.state.cfg.data.eval_path == ""       # never paired with the old split
        assert any("Eval file reset" == (n.title or "") for n in app._notifications)


async def test_every_panel_shows_the_current_file_after_a_bad_one(data_app, tmp_path):
    """A bad file, its error selected and a split written, then a good file: nothing of the
    bad file stays (no old error under "Errors (0)", no old "Split written" line)."""
    app = data_app
    good = [_chat(f"Question {i}", ["HW-01", "BILL-02"][i % 2]) for i in range(6)]
    (tmp_path / "good.jsonl").write_text("\n".join(good) + "\n")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await _settle(app, pilot)
        step = app.query_one(DataStep)
        tabs = step.query_one("#data-tabs")
        tabs.active = "tab-errors"
        table = step.query_one("#errors-table", DataTable)
        table.focus()
        await pilot.press("down", "up")
        await pilot.pause()
        raw = step.query_one("#raw-line", Static)
        assert "broken json" in plain(raw)
        step.query_one("#split").press()
        await _settle(app, pilot)
        assert "Split written" in plain(step.query_one("#action-log", Static))

        step.use_path("good.jsonl")
        await _settle(app, pilot)
        assert str(tabs.get_tab("tab-errors").label) == "Errors (0)"
        assert table.row_count == 0
        assert "broken json" not in plain(raw)
        assert plain(step.query_one("#action-log", Static)).strip() == ""
        assert step.query_one("#use-new").disabled
        assert step.report["n_examples"] == 6


PREF_TRAIN = "sample_data/preference/train.jsonl"


def _repo_file(rel):
    from pathlib import Path
    return str(Path(__file__).resolve().parents[2] / rel)


async def test_preference_pairs_preview_prompt_chosen_rejected_and_fit_dpo(data_app):
    app = data_app
    app.state.cfg = app.state.cfg.with_overrides(
        {"objective": "dpo", "data.train_path": _repo_file(PREF_TRAIN)})
    seen = []
    async with app.run_test(size=(120, 48), message_hook=seen.append) as pilot:
        await pilot.press("2")
        await _settle(app, pilot)
        step = app.query_one(DataStep)
        assert "preference" in plain(step.query_one("#data-status", Static))
        assert not step.query_one("#data-fit", Static).display
        # meant for DPO: no warning that SFT cannot use the pairs (the length bias stays)
        codes = [w["code"] for w in step.report["warnings"]]
        assert "not_for_sft" not in codes and "too_few_examples" in codes
        step.query_one("#data-tabs").active = "tab-samples"
        await pilot.pause()
        chat = plain(step.query_one("#chat"))
        assert "Order KX-45257" in chat                       # the prompt, as context
        assert "chosen · trained to prefer" in chat and "I have opened a trace" in chat
        assert "rejected · trained to avoid" in chat and "We cannot help with that." in chat
        await pilot.press("c")
        await pilot.pause()
    assert any(isinstance(m, GoToStep) and m.step_id == "hardware" for m in seen)


async def test_a_file_for_another_method_gets_one_message_and_no_continue(data_app):
    """An SFT file while the objective is DPO, then the pairs file with SFT: the message
    names the format found and the method that fits, and Continue stays put."""
    app = data_app
    app.state.cfg = app.state.cfg.with_overrides({"objective": "dpo"})
    seen = []
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await pilot.press("2")
        await _settle(app, pilot)
        step = app.query_one(DataStep)
        fit = step.query_one("#data-fit", Static)
        assert fit.display
        text = " ".join(plain(fit).split())
        assert "openai_chat" in text and "DPO" in text and "--method sft" in text
        await pilot.press("c")
        await pilot.pause()
        assert not any(isinstance(m, GoToStep) for m in seen)

        app.state.cfg = app.state.cfg.with_overrides({"objective": "sft"})
        step.use_path(_repo_file(PREF_TRAIN))
        await _settle(app, pilot)
        # The message names the file by its full path, so where it wraps depends on the
        # checkout's folder: compare with the line breaks folded.
        text = " ".join(plain(step.query_one("#data-fit", Static)).split())
        assert "preference pairs (prompt, chosen, rejected)" in text and "--method dpo" in text
        assert text.count("✗") == 1

        app.state.cfg = app.state.cfg.with_overrides({"objective": "dpo"})
        step.on_show_step()                      # the objective changed: inspected again
        await _settle(app, pilot)
        assert not step.query_one("#data-fit", Static).display

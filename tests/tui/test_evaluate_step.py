"""The Evaluate & Export step: the eval table, the verdict, evaluation and exports."""

import json

import pytest
from textual.widgets import Static

from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.messages import StepCompleted
from ft_tui.tui.steps.evaluate import EvalProgress, EvaluateStep
from ft_tui.tui.state import WizardState
from ft_tui.tui.widgets.eval_table import EvalTable
from tests.fixtures.eval_run import build_run_dir
from tests.tui.render_text import plain

pytestmark = pytest.mark.anyio


def hand_made_report():
    def example(line, prompt, ref, base, tuned):
        score = lambda answer: {"normalized_match": float(answer == ref), "exact_match": float(answer == ref)}
        return {"line": line, "prompt": prompt, "reference": ref, "base": base, "finetuned": tuned,
                "scores": {"base": score(base), "finetuned": score(tuned)}}

    return {
        "task_kind": "labels", "main_metric": "macro_f1", "n_examples": 3,
        "summary": {"macro_f1": {"base": 0.5, "finetuned": 0.4, "delta": -0.1},
                    "accuracy": {"base": 0.67, "finetuned": 0.33, "delta": -0.33}},
        "verdict": {"finetuned_beats_base": False,
                    "text": "Fine-tuning did not beat the prompted base model: only 6 steps."},
        "examples": [example(4, "Refund my order", "billing", "billing", "account"),
                     example(9, "Printer jammed", "technical", "it is broken", "technical"),
                     example(2, "Reset password", "account", "account", "billing")],
        "settings": {},
    }


def app_on(tmp_path, run_dir) -> FtTuiApp:
    state = WizardState.load(tmp_path / "ft-tui.yaml")
    state.current_step, state.run_dir = "evaluate", str(run_dir) if run_dir else None
    return FtTuiApp(state=state)


@pytest.fixture()
def workdir(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def test_shows_a_saved_report_sorts_by_key_and_shows_both_answers(workdir):
    run = workdir / "runs" / "r"
    run.mkdir(parents=True)
    (run / "eval.json").write_text(json.dumps(hand_made_report()))
    app = app_on(workdir, run)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        table = app.query_one(EvalTable)
        assert table.row_count == 3 and app.focused is table
        assert "did not beat" in plain(app.query_one("#eval-verdict", Static))
        summary = plain(app.query_one("#eval-summary", Static))
        assert "macro-F1 0.500 → 0.400 (-0.100)" in summary
        # sorted by line first; the detail panes show the highlighted example's two answers
        assert [table.get_row_at(i)[0] for i in range(3)] == [2, 4, 9]
        assert "billing" in plain(app.query_one("#detail-tuned", Static))
        await pilot.press("down")
        assert "Refund my order" in plain(app.query_one("#detail-base", Static))
        assert "account" in plain(app.query_one("#detail-tuned", Static))

        await pilot.press("o")            # next column: prompt, alphabetical
        assert table.sort_column == "prompt"
        assert [table.get_row_at(i)[1] for i in range(3)] == ["Printer jammed", "Refund my order",
                                                               "Reset password"]
        assert table.example_at_cursor()["prompt"] == "Refund my order"   # selection kept
        await pilot.press("O")            # reversed
        assert [table.get_row_at(i)[1] for i in range(3)][0] == "Reset password"
        for _ in range(6):                # on to the Δ column: biggest loss first when ascending
            await pilot.press("o")
        assert table.sort_column == "delta"
        assert table.get_row_at(0)[7] == "-1.00"


async def test_without_a_run_it_says_what_to_do(workdir):
    app = app_on(workdir, None)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert "train one in step 5" in plain(app.query_one("#eval-message", Static))
        assert not app.query_one(EvalTable).display


async def test_an_untrained_run_fails_with_one_clear_line(workdir, tiny_model_dir):
    run = build_run_dir(workdir / "work", tiny_model_dir, with_adapter=False)
    app = app_on(workdir, run)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await app.workers.wait_for_complete()
        await pilot.pause()
        message = plain(app.query_one("#eval-message", Static))
        assert "Evaluation failed" in message and "no trained adapter yet" in message
        assert "Traceback" not in message


async def test_evaluates_a_run_then_exports_each_artefact(workdir, tiny_model_dir, monkeypatch):
    monkeypatch.delenv("LLAMA_CPP_DIR", raising=False)
    run = build_run_dir(workdir / "work", tiny_model_dir)
    app = app_on(workdir, run)
    messages = []
    async with app.run_test(size=(120, 36), message_hook=messages.append) as pilot:
        await pilot.pause()
        assert "press e" in plain(app.query_one("#eval-message", Static))
        await pilot.press("e")
        await app.workers.wait_for_complete()
        await pilot.pause()
        phases = {m.phase for m in messages if isinstance(m, EvalProgress)}
        assert {"base", "finetuned"} <= phases
        table = app.query_one(EvalTable)
        saved = json.loads((run / "eval.json").read_text())
        assert table.row_count == saved["n_examples"] == 3
        assert any(isinstance(m, StepCompleted) and m.step_id == "evaluate" for m in messages)
        assert "evaluate" in app.state.completed

        step = app.query_one(EvaluateStep)
        from ft_tui.core.export import run as export_core
        calls = []
        real = export_core.export_run
        monkeypatch.setattr(export_core, "export_run",
                            lambda *a, **kw: calls.append(kw.get("only")) or real(*a, **kw))
        from ft_tui.tui.screens.confirm import ConfirmModal
        for key in ("a", "c", "s", "m", "g"):
            await pilot.press(key)
            await pilot.pause()
            if isinstance(app.screen, ConfirmModal):   # a "don't ship" model: asked first
                await pilot.press("y")
            await app.workers.wait_for_complete()
            await pilot.pause()
            if key == "a":      # where it went, not only that it went
                assert plain(app.query_one("#eval-message", Static), width=400).strip() == \
                    "Exported the adapter into the run directory (listed below)."
        out = run / "export"
        assert (out / "adapter" / "adapter_config.json").is_file()
        assert (out / "config.yaml").is_file() and (out / "train_standalone.py").is_file()
        assert (out / "merged" / "config.json").is_file()
        shown = plain(app.query_one("#export-results", Static), width=400)
        for name in ("adapter", "config", "standalone script", "merged model"):
            assert f"exported {name}: export/" in shown   # from the run directory: whole lines
        assert max(len(line) for line in shown.splitlines() if "exported" in line) <= 76
        # no llama.cpp converter here: the exact command to run is shown instead, as a failure
        assert "convert_hf_to_gguf.py" in step.exported["GGUF"]
        assert "✗ GGUF NOT written" in shown
        assert "did not write" in str(app.query_one("#eval-message", Static).content)
        # each key is one call of the same export_run that `ft-tui export` uses
        assert calls == ["adapter", "config", "script", "merged", "gguf"]


def footer_keys(app) -> dict[str, "object"]:
    from textual.widgets._footer import FooterKey

    return {key.action: key for key in app.query(FooterKey)}


async def test_at_80x24_the_footer_keeps_help_and_quit(workdir):
    run = workdir / "runs" / "r"
    run.mkdir(parents=True)
    (run / "eval.json").write_text(json.dumps(hand_made_report()))
    app = app_on(workdir, run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.pause()
        keys = footer_keys(app)
        palette = keys["command_palette"].region
        for action in ("help", "quit_app", "evaluate", "chat"):
            region = keys[action].region
            assert region.width and region.right <= palette.x + 1, action   # on screen, not under ^p
        assert "Export" in [str(label.content) for label in app.query("FooterLabel")]


async def test_at_80x24_the_ship_call_and_several_rows_show(workdir):
    report = hand_made_report()
    report["examples"] = report["examples"] * 4
    report["verdict"]["text"] = (
        "Fine-tuning did not beat the prompted base model: it did worse than it on macro-F1, "
        "0.400 vs 0.500 (-0.100) on 12 held-out examples. Likely reasons: only 6 optimizer "
        "steps were run: train longer (more epochs or a higher --max-steps); the training loss "
        "barely fell (2.10 -> 2.01): train longer. With only 12 held-out examples the "
        "difference is uncertain; hold out 20-50 examples to be sure.\n"
        "Don't ship: the fine-tune is not better than prompting.")
    run = workdir / "runs" / "r"
    run.mkdir(parents=True)
    (run / "eval.json").write_text(json.dumps(report))
    app = app_on(workdir, run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.pause()
        headline = app.query_one("#eval-bar", Static)
        assert "Don't ship" in plain(headline)                 # the call, first and whole
        assert headline.virtual_size.height <= headline.region.height
        box = app.query_one("#eval-verdict-box")               # what it rests on: Tab, scroll
        assert box.region.height >= 3 and box.focusable
        assert "Likely reasons" in plain(app.query_one("#eval-verdict", Static))
        table = app.query_one(EvalTable)
        assert table.region.height - 3 >= 6                   # border and header, 6+ rows
        assert table.region.bottom <= app.query_one("#eval-detail").region.y
        table.focus()
        await pilot.press("shift+tab", "down", "down")         # as the step's help says
        assert app.focused is box and box.scroll_y > 0


async def test_a_dont_ship_model_is_not_exported_without_a_word(workdir):
    run = workdir / "runs" / "r"
    (run / "adapter").mkdir(parents=True)
    report = hand_made_report()
    report["verdict"].update(ship=False, ship_reason="Don't ship: it forgot general abilities.")
    (run / "eval.json").write_text(json.dumps(report))
    app = app_on(workdir, run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        from ft_tui.tui.screens.confirm import ConfirmModal
        await pilot.press("m")                              # the merged model
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert "forgot general abilities" in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert app.query_one(EvaluateStep)._exporting is None and not (run / "export").exists()

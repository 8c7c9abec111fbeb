"""The Decide step: yes/no keys walk the tree; the verdict explains itself; going on
completes the step and opens Data. (Named *_step to stay apart from tests/test_decide.py.)"""

import pytest
from textual.widgets import Button, ContentSwitcher, Static

from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.messages import GoToStep, StepCompleted
from ft_tui.tui.steps.decide import DecideStep
from tests.tui.render_text import plain

pytestmark = pytest.mark.anyio


@pytest.fixture()
def app(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))


def _text(app, selector) -> str:
    return plain(app.query_one(DecideStep).query_one(selector, Static))


async def test_fine_tune_path_gives_the_verdict_with_reasons_and_continues_to_data(app):
    messages = []
    async with app.run_test(size=(120, 36), message_hook=messages.append) as pilot:
        assert "Q1." in _text(app, "#question-text")
        await pilot.press("n", "n", "y", "n", "n", "y")
        step = app.query_one(DecideStep)
        assert step.walk.verdict.id == "fine_tune"
        assert step.query_one("#verdict-box").display
        assert not step.query_one("#question-box").display
        assert "Fine-tune (supervised, with LoRA)" in _text(app, "#verdict-title")
        reasons = _text(app, "#verdict-reasons")
        assert "Your current prompt does not give the answers yet." in reasons and "100+" in reasons
        assert not step.query_one("#verdict-caution").display  # no warning for a fine-tune verdict
        assert "▶ Fine-tuning" in _text(app, "#comparison")    # its row is marked
        await pilot.press("c")
        await pilot.pause()
        assert app.query_one(ContentSwitcher).current == "data"
    assert any(isinstance(m, StepCompleted) and m.step_id == "decide" for m in messages)
    assert any(isinstance(m, GoToStep) and m.step_id == "data" for m in messages)
    assert "decide" in app.state.completed


async def test_knowledge_gap_says_rag_and_warns_before_fine_tuning_anyway(app):
    messages = []
    async with app.run_test(size=(120, 36), message_hook=messages.append) as pilot:
        await pilot.press("n", "y")
        assert "Use retrieval (RAG)" in _text(app, "#verdict-title")
        step = app.query_one(DecideStep)
        caution = step.query_one("#verdict-caution", Static)
        assert caution.display and "forgets facts" in plain(caution)
        go_on = step.query_one("#continue", Button)
        assert "anyway" in str(go_on.label)
        await pilot.click(go_on)
        await pilot.pause()
        assert any("Fine-tuning anyway" in (n.title or "") for n in app._notifications)
        assert app.query_one(ContentSwitcher).current == "data"
    assert any(isinstance(m, StepCompleted) and m.step_id == "decide" for m in messages)


async def test_back_and_restart_undo_answers_and_continue_waits_for_a_verdict(app):
    async with app.run_test(size=(120, 36)) as pilot:
        step = app.query_one(DecideStep)
        await pilot.press("n", "n")
        assert step.walk.question.id == "style_or_behaviour"
        assert "Prompt works? no" in _text(app, "#path")
        await pilot.press("b")
        assert step.walk.question.id == "missing_knowledge"
        await pilot.press("c")  # no verdict yet: nothing happens
        assert app.query_one(ContentSwitcher).current == "decide"
        await pilot.press("y", "r")
        assert step.walk.answers == [] and "Q1." in _text(app, "#question-text")


async def test_measure_baseline_enters_the_verdict(tmp_path, monkeypatch, tiny_model_dir, isolated_cache):
    from tests.fixtures.eval_run import TICKETS, write_chat_jsonl

    monkeypatch.chdir(tmp_path)
    data = write_chat_jsonl(tmp_path / "tickets.jsonl", TICKETS * 2)
    app = FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))
    app.state.cfg = app.state.cfg.with_overrides({
        "model.name": str(tiny_model_dir), "data.train_path": str(data),
        "data.eval_fraction": 0.25, "eval.max_new_tokens": 4})
    async with app.run_test(size=(80, 24)) as pilot:
        step = app.query_one(DecideStep)
        await pilot.press("n", "n", "y", "n", "n", "y")
        await pilot.press("m")
        await app.workers.wait_for_complete()
        await pilot.pause()
        status = _text(app, "#baseline-status")
        assert "zero-shot:" in status and "3-shot:" in status and "6 held-out examples" in status
        assert step.baseline.startswith("Measured: prompting")
        assert " ".join(step.baseline.split()) == " ".join(_text(app, "#verdict-baseline").split())
        assert not step.query_one("#measure").disabled  # ready to measure again
        assert step.query_one("#cancel-baseline").disabled


async def test_measure_baseline_with_a_missing_file_says_so(app):
    async with app.run_test(size=(80, 24)) as pilot:
        step = app.query_one(DecideStep)
        step.query_one("#baseline-path").value = "nope.jsonl"
        await pilot.press("m")
        await pilot.pause()
        assert "no such data file" in _text(app, "#baseline-status")
        assert not step.baseline


async def test_dpo_verdict_leads_into_data_with_the_preference_path_chosen(app):
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("n", "n", "y", "n", "y")
        step = app.query_one(DecideStep)
        assert step.walk.verdict.id == "dpo"
        assert not step.query_one("#verdict-caution").display   # DPO is trained here now
        await pilot.press("c")
        await pilot.pause()
        assert app.query_one(ContentSwitcher).current == "data"
        cfg = app.state.cfg
        assert cfg.objective == "dpo"
        assert cfg.data.train_path == "sample_data/preference/train.jsonl"


def test_measure_clock_moves_before_the_first_answer_of_a_phase(monkeypatch):
    """A batch of 16 long few-shot answers finishes together after a minute or more: until
    then the tokens generated move, with a bound on the time left (each answer stops at
    eval.max_new_tokens), not a frozen 'example 0 of 20'."""
    import time as time_module

    from ft_tui.tui.steps.decide import MeasureClock

    now = [1000.0]
    monkeypatch.setattr(time_module, "monotonic", lambda: now[0])
    clock = MeasureClock(max_new_tokens=100)
    clock.start(phases=2)
    clock.progress(20, 20, "zero_shot")       # all cached
    clock.progress(0, 20, "few_shot")
    assert "reading the prompts" in clock.line()
    now[0] += 10
    clock.add_tokens(16 * 10)                 # ten decoding steps of a 16-answer batch
    line = clock.line()
    assert "160 tokens (16/s)" in line
    # 20 answers of at most 100 tokens, 160 made, at 16 tokens/s: at most 115 s
    assert "at most 1m55s left" in line
    now[0] += 5
    clock.progress(1, 20, "few_shot")         # one answer ends early: 15 s x 19 overstates,
    assert "about 2m43s left" in clock.line()  # the token bound holds: 1740 tokens at 10.7/s


async def test_answering_after_measuring_shows_the_next_question_at_80x24(app):
    """Measuring scrolls its panel into view, below the fold of the questions; the next
    answer must bring the new question back, or `n` seems to do nothing."""
    from textual.containers import VerticalScroll

    async with app.run_test(size=(80, 24)) as pilot:
        step = app.query_one(DecideStep)
        scroll = step.query_one("#decide-scroll", VerticalScroll)
        scroll.scroll_to_widget(step.query_one("#baseline-box"), animate=False, top=True)
        await pilot.pause()
        assert scroll.scroll_y > 0
        await pilot.press("n")
        await pilot.pause()
        question = step.query_one("#question-text")
        assert "Q2." in plain(question)
        top = question.region.y   # on screen: within the scroll view's visible region
        assert scroll.region.y <= top < scroll.region.bottom
        for key in ("n", "y", "n", "n", "y"):
            await pilot.press(key)
        await pilot.pause()
        title = step.query_one("#verdict-title")
        assert step.walk.verdict is not None
        assert scroll.region.y <= title.region.y < scroll.region.bottom


async def test_the_footer_lists_the_keys_that_act_now(app):
    """In tmux the verdict's footer still offered y Yes / n No, and hid c Continue."""
    def footer_actions() -> set[str]:
        return {b.binding.action for b in app.screen.active_bindings.values() if b.binding.show}

    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        first = footer_actions()
        assert {"answer(True)", "answer(False)", "measure"} <= first
        assert not {"continue", "back", "cancel_baseline"} & first   # nothing to undo yet
        await pilot.press("n", "n", "y", "n", "n", "y")
        await pilot.pause()
        verdict = footer_actions()
        assert {"continue", "back", "measure"} <= verdict
        assert not {"answer(True)", "answer(False)"} & verdict

"""The wizard asks, once, before the run's LLM judge gets any data: the question
`ft-tui eval` asks at its terminal, in a modal whose default is not to send; the answer
decides the judge the evaluation gets, as `--judge` does on the command line."""

import pytest
from textual.widgets import Static

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.evaluate.judge import LLMJudge
from ft_tui.core.evaluate.report import EvalReport
from ft_tui.tui.screens.confirm import ConfirmModal
from tests.fixtures.eval_run import build_run_dir
from tests.tui.render_text import plain
from tests.tui.test_evaluate_step import app_on, hand_made_report

pytestmark = pytest.mark.anyio
JUDGE = "http://127.0.0.1:9/v1"   # nothing listens: the fake evaluation sends nothing


@pytest.fixture()
def judged(tmp_path, tiny_model_dir, isolated_cache, monkeypatch):
    """A run whose config names a judge, and an evaluation that records the judge it got."""
    monkeypatch.chdir(tmp_path)
    run = build_run_dir(tmp_path / "work", tiny_model_dir, with_adapter=False)
    cfg = RunConfig.load(run / "config.yaml").with_overrides(
        {"eval.judge_url": JUDGE, "eval.judge_model": "grader"})
    cfg.save(run / "config.yaml")
    judges = []

    def fake_evaluate_run(path, *, judge=None, **kwargs):
        judges.append(judge)
        data = hand_made_report()
        return EvalReport(**{k: data[k] for k in ("task_kind", "main_metric", "n_examples",
                                                  "summary", "verdict", "examples", "settings")})

    monkeypatch.setattr("ft_tui.core.evaluate.run.evaluate_run", fake_evaluate_run)
    return run, judges


async def evaluate(app, pilot, answer=None):
    await pilot.press("e")
    await pilot.pause()
    if answer is not None:
        assert isinstance(app.screen, ConfirmModal)
        question = plain(app.screen.query_one("#question", Static), width=200)
        assert f"names an LLM judge at {JUDGE}. Send it the held-out prompts" in question
        assert "FT_TUI_JUDGE_API_KEY" in question
        await pilot.press(answer)
    assert not isinstance(app.screen, ConfirmModal)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_yes_hands_the_configs_judge_to_the_evaluation_and_is_asked_once(judged, tmp_path):
    run, judges = judged
    app = app_on(tmp_path, run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await evaluate(app, pilot, answer="y")
        assert judges == [LLMJudge(JUDGE, "grader")]
        await evaluate(app, pilot)            # the answer holds for this session
        assert len(judges) == 2 and judges[1] == LLMJudge(JUDGE, "grader")


@pytest.mark.parametrize("answer", ["n", "escape"])
async def test_no_or_escape_sends_nothing(judged, tmp_path, answer):
    run, judges = judged
    app = app_on(tmp_path, run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await evaluate(app, pilot, answer=answer)
        assert judges == [None]    # evaluate_run then records that nothing was sent

"""The Decide step's answers and measured baseline survive a relaunch, `m` shows its
panel and its clock, and the evaluation's verdict is against the best prompted baseline
measured (Decide's 3-shot score when it beat the evaluation's zero-shot base)."""

import json
import threading

import pytest
from textual.widgets import ContentSwitcher, Static

from ft_tui.core.evaluate.bar import prompted_bar
from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.state import WizardState
from ft_tui.tui.steps.decide import DecideStep
from tests.tui.render_text import plain
from tests.tui.test_evaluate_step import hand_made_report

pytestmark = pytest.mark.anyio

MEASURED = {"data_path": "sample_data/ticket_triage/train.jsonl", "model": "default",
            "task_kind": "labels", "main_metric": "macro_f1", "n_examples": 20, "few_shot": 3,
            "scores": {"zero_shot": {"macro_f1": 0.0}, "few_shot": {"macro_f1": 0.26}}}


def report_beating_only_zero_shot():
    report = hand_made_report()
    report["summary"]["macro_f1"] = {"base": 0.0, "finetuned": 0.2, "delta": 0.2}
    report["verdict"] = {"finetuned_beats_base": True, "text": "Fine-tuning beat the base model."}
    return report


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_bar_is_the_best_prompt_measured_for_the_same_setup():
    report = report_beating_only_zero_shot()
    bar = prompted_bar(report, MEASURED)
    assert (bar.label, bar.score, bar.where, bar.beats) == ("3-shot", 0.26, "measured in Decide", False)
    assert "0.20" in bar.text() and "0.26" in bar.text() and "wasted compute" in bar.text()
    assert prompted_bar(report, None).where == "this evaluation"
    other_metric = {**MEASURED, "main_metric": "rouge_l"}
    assert prompted_bar(report, other_metric).score == 0.0      # not comparable: not used


async def test_evaluate_shows_the_verdict_against_decides_few_shot_score(workdir):
    run = workdir / "runs" / "r"
    run.mkdir(parents=True)
    (run / "eval.json").write_text(json.dumps(report_beating_only_zero_shot()))
    state = WizardState.load(workdir / "ft-tui.yaml")
    state.current_step, state.run_dir, state.baseline = "evaluate", str(run), MEASURED
    app = FtTuiApp(state=state)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        bar = plain(app.query_one("#eval-bar", Static))
        assert bar.startswith("✗") and "0.20" in bar and "0.26" in bar and "3-shot" in bar
        assert "measured in Decide" in bar
        assert "zero-shot base" in plain(app.query_one("#eval-verdict", Static))


async def test_decide_answers_and_the_baseline_come_back_after_a_relaunch(workdir):
    app = FtTuiApp(config_path=str(workdir / "ft-tui.yaml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "n", "y", "n", "n", "y")
        step = app.query_one(DecideStep)
        step.post_message(DecideStep.BaselineDone("Measured: prompting (3-shot) reaches 0.26",
                                                  "macro-F1 on 20 held-out examples:  3-shot: 0.26",
                                                  result=MEASURED))
        await pilot.pause()
        await pilot.press("q")
    again = FtTuiApp(config_path=str(workdir / "ft-tui.yaml"))
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        step = again.query_one(DecideStep)
        assert step.walk.verdict is not None and step.walk.verdict.id == "fine_tune"
        assert again.state.baseline["scores"]["few_shot"]["macro_f1"] == 0.26
        assert "3-shot: 0.26" in plain(step.query_one("#baseline-status", Static))


async def test_measure_brings_its_panel_into_view_and_shows_the_time(workdir, monkeypatch):
    release = threading.Event()

    def slow_baseline(cfg, on_progress=None, should_stop=None, **kwargs):
        on_progress(1, 20, "zero_shot")
        on_progress(2, 20, "zero_shot")
        release.wait(20)
        from ft_tui.core.evaluate.baseline import BaselineCancelled
        raise BaselineCancelled("stopped by the test")

    monkeypatch.setattr("ft_tui.core.evaluate.baseline.measure_baseline", slow_baseline)
    app = FtTuiApp(config_path=str(workdir / "ft-tui.yaml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "n", "y", "n", "n", "y")
        step = app.query_one(DecideStep)
        scroll = step.query_one("#decide-scroll")
        assert scroll.scroll_y == 0
        await pilot.press("m")
        for _ in range(40):
            await pilot.pause(0.05)
            if "elapsed" in plain(step.query_one("#baseline-status", Static)):
                break
        status = plain(step.query_one("#baseline-status", Static))
        release.set()
        assert "example 2 of 20" in status and "elapsed" in status and "left" in status
        box = step.query_one("#baseline-box")
        assert scroll.scroll_y > 0 and box.region.y < 24     # the panel is on screen now
        assert app.query_one(ContentSwitcher).current == "decide"

"""The prompted baseline (Decide step / `ft-tui baseline`): same answers as the evaluation,
cached so the final evaluation does not compute them again."""

import json

import pytest

from ft_tui.cli import main
from ft_tui.core.config.settings import RunConfig
from ft_tui.core.decide import baseline_sentence
from ft_tui.core.evaluate import baseline as bl
from ft_tui.core.evaluate import run as ev
from tests.fixtures.eval_run import build_run_dir


@pytest.fixture()
def run_path(tmp_path, tiny_model_dir, isolated_cache):
    return build_run_dir(tmp_path, tiny_model_dir)


def test_baseline_answers_are_reused_by_the_final_evaluation(run_path, monkeypatch):
    cfg = RunConfig.load(run_path / "config.yaml").with_overrides({"eval.few_shot": 2})
    progress, tokens = [], []
    result = bl.measure_baseline(cfg, max_examples=3,
                                 on_progress=lambda d, t, p: progress.append((d, t, p)),
                                 on_tokens=tokens.append)
    # tokens are heard of per decoding step (the Decide step's line moves with them while a
    # batch of long answers is under way): at most 3 answers a step, some steps in all
    assert len(tokens) > 2 and all(1 <= n <= 3 for n in tokens)
    assert set(result.scores) == {"zero_shot", "few_shot"} and result.few_shot == 2
    assert result.n_examples == 3 and result.main_metric == "macro_f1"
    # per answer as it finishes (the random model's answers all end at the token limit,
    # so together), zero-shot first
    zero = [d for d, t, p in progress if p == "zero_shot"]
    assert zero[0] == 0 and zero[-1] == 3 and zero == sorted(zero)
    assert progress[-1] == (3, 3, "few_shot")

    calls = []
    real = ev.generate_greedy
    monkeypatch.setattr(ev, "generate_greedy",
                        lambda m, t, prompts, **kw: calls.append(len(prompts)) or real(m, t, prompts, **kw))
    # the evaluation with the same few-shot setting finds every base answer in the cache
    report = ev.evaluate_run(run_path, few_shot=2, max_examples=3)
    assert report.settings["base_answers_from_cache"] == 3
    assert calls == [3]  # only the fine-tuned model generated
    assert [e["base"] for e in report.examples] == [e["few_shot"] for e in result.examples]
    zero = ev.evaluate_run(run_path, few_shot=0, max_examples=3)
    assert zero.settings["base_answers_from_cache"] == 3


def test_baseline_cancel_keeps_the_answers_so_far(run_path, monkeypatch):
    """A stop mid-way keeps (and caches) the answers finished before it; the next baseline
    starts from them. Batches of 2 here: the stop comes after the first batch."""
    from ft_tui.core.models import generation

    monkeypatch.setattr(generation, "generation_batch_size", lambda device: 2)
    cfg = RunConfig.load(run_path / "config.yaml")
    seen = []
    with pytest.raises(bl.BaselineCancelled, match="stopped after 2 of 3"):
        bl.measure_baseline(cfg, max_examples=3, few_shot=0,
                            on_progress=lambda d, t, p: seen.append(d),
                            should_stop=lambda: len(seen) >= 2)
    again = bl.measure_baseline(cfg, max_examples=3, few_shot=0)
    assert again.from_cache == 2


def test_baseline_cli_json_and_bad_file(run_path, tiny_model_dir, capsys):
    cfg = RunConfig.load(run_path / "config.yaml")
    code = main(["baseline", cfg.data.train_path, "--eval-data", cfg.data.eval_path,
                 "--model", str(tiny_model_dir), "--few-shot", "0", "--max-examples", "2", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert data["n_examples"] == 2 and list(data["scores"]) == ["zero_shot"]
    assert main(["baseline", str(run_path / "nope.jsonl")]) == 2
    assert "data file not found" in capsys.readouterr().err


def test_verdict_sentence_says_whether_fine_tuning_is_worth_trying():
    low = baseline_sentence("JSON field match", 0.32, "3-shot", 20)
    assert "0.32 JSON field match" in low and "fine-tuning is worth trying" in low
    assert "may not be worth it" in baseline_sentence("macro-F1", 0.95, "zero-shot", 20)

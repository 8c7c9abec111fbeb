"""The regression gate: bundled probes, perplexity on general text, ship / don't ship."""

import json

import pytest

from ft_tui.cli import main
from ft_tui.core.evaluate import general as ga
from ft_tui.core.evaluate.run import evaluate_run
from tests.fixtures.eval_run import build_run_dir


def test_probe_set_covers_the_four_kinds_and_every_check_can_pass_and_fail():
    probes = ga.load_probes()
    assert {p.category for p in probes} == {"arithmetic", "facts", "format", "refusal"}
    assert len(probes) >= 40
    assert ga.passes({"type": "number", "value": 15}, "The answer is 15.")
    assert not ga.passes({"type": "number", "value": 15}, "It is 51")
    assert ga.passes({"type": "number", "value": 5}, "2 + 3 = 5")
    assert not ga.passes({"type": "number", "value": 4}, "12 divided by 3 equals 3")
    assert ga.passes({"type": "contains_any", "values": ["Paris"]}, "paris, of course")
    assert not ga.passes({"type": "contains_any", "values": ["not"]}, "nothing to say")  # whole words
    assert ga.passes({"type": "regex", "pattern": r"\W*YES\W*", "case": True}, "YES.")
    assert not ga.passes({"type": "regex", "pattern": r"\W*YES\W*", "case": True}, "yes, sure")
    assert ga.passes({"type": "json", "fields": {"name": "Ada"}}, '```json\n{"name": "Ada"}\n```')
    assert not ga.passes({"type": "json", "fields": {"name": "Ada"}}, 'name: Ada')
    assert ga.passes({"type": "json_list", "value": ["a", "b"]}, '["a", "b"]')


def test_wilson_interval_brackets_the_rate():
    lo, hi = ga.wilson(20, 40)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(0.30, abs=0.02)
    assert ga.wilson(0, 10)[0] == 0.0


def _side(passed, loss):
    return {"answers": ["x"] * len(passed), "passed": passed, "losses": [loss] * 160}


def test_clear_forgetting_says_dont_ship_and_noise_does_not():
    probes = ga.load_probes()[:40]
    base = _side([True] * 30 + [False] * 10, 2.0)
    worse = ga.compare(probes, base, _side([True] * 10 + [False] * 30, 2.0))
    assert worse["forgetting"] and "general probes fell from 0.75 to 0.25" in worse["forgetting_reasons"][0]
    ship, reason = ga.ship_decision(True, worse)
    assert not ship and reason.startswith("Don't ship: it forgot")
    # one probe lost is within the noise: no forgetting flagged
    same = ga.compare(probes, base, _side([True] * 29 + [False] * 11, 2.0))
    assert not same["forgetting"]
    assert ga.ship_decision(True, same)[0]
    assert not ga.ship_decision(False, same)[0]  # losing on the task is never shipped
    perplexed = ga.compare(probes, base, _side(base["passed"], 2.5))  # ppl x e^0.5 = x1.65
    assert perplexed["forgetting"] and "perplexity" in perplexed["forgetting_reasons"][0]


@pytest.fixture()
def run_path(tmp_path, tiny_model_dir, isolated_cache):
    return build_run_dir(tmp_path, tiny_model_dir)


def test_eval_writes_the_gate_and_gate_exit_codes(run_path, monkeypatch, capsys):
    said = []
    report = evaluate_run(run_path, general=True, on_progress=lambda done, total, phase,
                          tokens_per_s=None: said.append((phase, done, total, tokens_per_s)))
    # the check moves per probe answered (it sat at "1/2" for minutes), then its perplexity pass
    for phase in ("general_base", "general_tuned"):
        counts = [(done, total) for p, done, total, _ in said if p == phase]
        assert counts[-1] == (41, 41) and len({d for d, _ in counts}) > 2
        assert [d for d, _ in counts] == sorted(d for d, _ in counts)
    assert any(speed for p, *_, speed in said if p == "general_tuned")
    data = json.loads((run_path / "eval.json").read_text())
    general = data["general"]
    assert general["probes"]["n"] == 40 and len(general["examples"]) == 40
    assert general["perplexity"]["base"] > 1 and general["perplexity"]["finetuned"] > 1
    assert general["perplexity"]["base"] != general["perplexity"]["finetuned"]
    assert data["verdict"]["ship_reason"] in data["verdict"]["text"]
    assert "General ability (regression gate)" in (run_path / "report.md").read_text()
    capsys.readouterr()

    # the tiny random model's fine-tune does not beat its base: the gate stays closed
    assert not report.verdict["ship"]
    assert main(["eval", str(run_path), "--gate"]) == 3
    assert "gate closed: Don't ship" in capsys.readouterr().err
    # without --gate the verdict is only reported
    assert main(["eval", str(run_path), "--no-general"]) == 0
    assert json.loads((run_path / "eval.json").read_text())["general"] is None
    monkeypatch.setattr(ga, "ship_decision", lambda beats, general: (True, "Ship: test."))
    assert main(["eval", str(run_path), "--gate", "--no-general", "--json"]) == 0

"""The bundled ticket-triage set: reproducible, clean, balanced, and learnable as stated."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from ft_tui.core.data import inspect_path
from ft_tui.core.data.checks import near_key

ROOT = Path(__file__).resolve().parent.parent
TRIAGE = ROOT / "sample_data" / "ticket_triage"


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_sample_data",
                                                  ROOT / "scripts" / "make_sample_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _rows(name: str) -> list[list[dict]]:
    with (TRIAGE / name).open(encoding="utf-8") as f:
        return [json.loads(line)["messages"] for line in f]


@pytest.fixture(scope="module")
def train() -> list[list[dict]]:
    return _rows("train.jsonl")


@pytest.fixture(scope="module")
def held_out() -> list[list[dict]]:
    return _rows("eval.jsonl")


def test_committed_files_equal_the_generator_output():
    for name, content in gen.render_files().items():
        on_disk = (TRIAGE / name).read_text(encoding="utf-8")
        assert on_disk == content, (
            f"{name} differs from scripts/make_sample_data.py's output; re-run the script")


def test_the_generator_is_deterministic_and_the_seed_matters():
    assert gen.render_files() == gen.render_files()
    assert gen.render_files(seed=gen.SEED + 1) != gen.render_files()


def test_sizes(train, held_out):
    assert len(train) == 400
    assert len(held_out) == 100


def test_every_row_is_system_user_assistant_with_the_one_system_prompt(train, held_out):
    for messages in train + held_out:
        assert [m["role"] for m in messages] == ["system", "user", "assistant"]
        assert messages[0]["content"] == gen.SYSTEM_PROMPT
        assert messages[1]["content"].strip()


def test_every_answer_is_compact_json_with_the_schema(train, held_out):
    order_id = re.compile(r"KX-\d{5}")
    for messages in train + held_out:
        text = messages[2]["content"]
        answer = json.loads(text)
        assert list(answer) == ["team", "priority", "order_id", "product"], text
        assert text == json.dumps(answer, separators=(",", ":")), "answers must be compact"
        assert answer["team"] in gen.TEAMS
        assert answer["priority"] == gen.TEAMS[answer["team"]]  # priority follows the team
        assert answer["product"] is None or answer["product"] in gen.PRODUCTS
        assert answer["order_id"] is None or order_id.fullmatch(answer["order_id"])


def test_the_answer_follows_from_the_ticket_text(train, held_out):
    """The order's digits appear in the ticket exactly when an order id is given, and
    the device is named exactly when a product is given."""
    device_words = {"HUB": r"\bhub\b", "CAM": r"\bcam(era)?\b", "PLUG": r"\bplug\b",
                    "THERMO": r"\bthermo(stat)?\b"}
    for messages in train + held_out:
        text = messages[1]["content"].lower()
        answer = json.loads(messages[2]["content"])
        digit_runs = re.findall(r"\d{5}", text)
        if answer["order_id"] is None:
            assert not digit_runs, text
        else:
            assert digit_runs == [answer["order_id"][3:]], text
        named = [p for p, word in device_words.items() if re.search(word, text)]
        assert named == ([answer["product"]] if answer["product"] else []), text


def test_no_train_input_reappears_in_eval_up_to_case_spacing_and_punctuation(train, held_out):
    train_keys = {near_key(m[1]["content"]) for m in train}
    leaked = [m[1]["content"] for m in held_out if near_key(m[1]["content"]) in train_keys]
    assert leaked == []


def test_teams_are_balanced_in_both_files(train, held_out):
    for rows in (train, held_out):
        counts = Counter(json.loads(m[2]["content"])["team"] for m in rows)
        assert set(counts) == set(gen.TEAMS)
        assert max(counts.values()) <= 2 * min(counts.values()), counts


@pytest.mark.parametrize("name", ["train.jsonl", "eval.jsonl"])
def test_the_inspector_finds_nothing_wrong(name):
    """No errors, duplicates, near-duplicates, contradictions, PII or imbalance."""
    report = inspect_path(TRIAGE / name)
    assert report.format == "openai_chat"
    assert report.errors == []
    assert [w.code for w in report.warnings] == []


def test_ticket_texts_vary(train):
    """Templates must not dominate: many distinct openings and mostly unique wordings
    once openers and sign-offs are removed."""
    texts = [m[1]["content"] for m in train]
    first_words = Counter(" ".join(t.split()[:3]).lower() for t in texts)
    assert first_words.most_common(1)[0][1] <= len(texts) * 0.1
    assert len({near_key(t) for t in texts}) == len(texts)


def test_the_check_flag_reports_a_stale_file(tmp_path, capsys):
    assert gen.main(["--out", str(tmp_path)]) == 0
    assert gen.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "eval.jsonl").write_text("{}\n", encoding="utf-8")
    assert gen.main(["--check", "--out", str(tmp_path)]) == 1
    assert "eval.jsonl" in capsys.readouterr().err

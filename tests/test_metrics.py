"""Metrics on hand-computed cases."""

import pytest

from ft_tui.core.evaluate import metrics as m
def test_exact_and_normalised_match():
    assert m.exact_match("  Billing \n", "Billing") == 1.0
    assert m.exact_match("billing", "Billing") == 0.0
    assert m.normalized_match("billing.", "Billing") == 1.0
    assert m.normalized_match("Hello,   World!", "hello world") == 1.0
    assert m.normalized_match("hello there world", "hello world") == 0.0


def test_json_validity_accepts_objects_and_code_fences_only():
    assert m.json_valid('{"a": 1}') == 1.0
    assert m.json_valid('```json\n{"a": 1}\n```') == 1.0
    assert m.json_valid("[1, 2]") == 0.0          # valid JSON, but not an object
    assert m.json_valid("Sure! Here is the JSON: {") == 0.0


def test_json_field_match_counts_reference_fields():
    ref = '{"category": "BILL-02", "priority": "high", "order_id": "48213", "n": 2}'
    # 3 of 4 fields right: priority differs only in case (normalised), n is 2.0 == 2
    pred = '{"priority": "High", "category": "BILL-02", "order_id": "99999", "n": 2.0, "extra": 1}'
    assert m.json_field_match(pred, ref) == pytest.approx(0.75)
    assert m.json_field_match("not json", ref) == 0.0
    assert m.json_field_match('{"b": true}', '{"b": 1}') == 0.0  # a bool is not a number


def test_json_object_match_ignores_formatting_not_values():
    assert m.json_object_match('{"b": 2, "a": 1}', '{"a":1,"b":2}') == 1.0
    assert m.json_object_match('{"a": 1, "b": 3}', '{"a":1,"b":2}') == 0.0


def test_lcs_and_rouge_l_by_hand():
    assert m.lcs_length(list("ABCBDAB"), list("BDCABA")) == 4
    # pred 4 words, ref 6 words, LCS "the cat on mat" = 4 -> P=1, R=2/3, F=0.8
    assert m.rouge_l("the cat on mat", "The cat sat on the mat.") == pytest.approx(0.8)
    assert m.rouge_l("", "") == 1.0
    assert m.rouge_l("something", "") == 0.0
    assert m.rouge_l("dog", "cat") == 0.0


def test_accuracy_and_macro_f1_by_hand():
    refs = ["pos", "pos", "neg", "neg"]
    preds = ["pos", "neg", "neg", "The sentiment is negative"]
    assert m.accuracy(preds, refs) == pytest.approx(0.5)
    # pos: tp=1 fp=0 fn=1 -> F1 2/3; neg: tp=1 fp=1 fn=1 -> F1 1/2; macro = 7/12
    assert m.macro_f1(preds, refs) == pytest.approx(7 / 12)
    assert m.macro_f1(refs, refs) == 1.0


def test_detect_task_kind():
    assert m.detect_task_kind(['{"a": 1}', '{"a": 2}', '{"a": 3}']) == "extraction"
    labels = ["billing", "technical", "billing", "account", "technical", "billing"]
    assert m.detect_task_kind(labels) == "labels"
    prose = ["The printer jammed because the tray was overfilled.",
             "Reset the password from the account page, then sign in again.",
             "Refunds take five working days to reach your card."]
    assert m.detect_task_kind(prose) == "free_text"
    # every reference distinct: not a label set even when short
    assert m.detect_task_kind(["alpha", "beta", "gamma", "delta"]) == "free_text"


def test_summarize_uses_the_main_metric_of_each_kind():
    refs = ["pos", "neg", "pos", "neg"]
    summary = m.summarize("labels", ["pos", "neg", "neg", "neg"], refs)
    assert list(summary)[0] == m.MAIN_METRIC["labels"] == "macro_f1"
    assert summary["accuracy"] == pytest.approx(0.75)
    assert summary["answer_length"] == 1.0

    ext = m.summarize("extraction", ['{"a": 1, "b": 2}', "no"], ['{"a": 1, "b": 3}', '{"a": 1}'])
    assert ext["json_field_match"] == pytest.approx(0.25)
    assert ext["json_valid"] == pytest.approx(0.5)
    assert ext["json_object_match"] == 0.0

    free = m.summarize("free_text", ["the cat on mat"], ["The cat sat on the mat."])
    assert free["rouge_l"] == pytest.approx(0.8)
    with pytest.raises(ValueError):
        m.summarize("labels", ["a"], ["a", "b"])

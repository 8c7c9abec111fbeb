"""Whole-set warnings and token statistics from ``inspect_path``."""

import json

import pytest

from ft_tui.core.data import inspect_path
from ft_tui.core.data.pii import KIND_NAMES, find_pii, luhn_ok


def write_chat(path, pairs):
    path.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": q}, {"role": "assistant", "content": a}]}) + "\n"
        for q, a in pairs), encoding="utf-8")
    return path


def codes(report):
    return [w.code for w in report.warnings]


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_model_dir):
    from ft_tui.core.models.resolve import load_tokenizer

    return load_tokenizer(tiny_model_dir)


def test_duplicates_near_duplicates_and_contradictions_as_line_pairs(tmp_path):
    path = write_chat(tmp_path / "d.jsonl", [
        ("Printer jammed on floor 3", "HW-01"),          # 1
        ("Reset my password please", "ACC-02"),          # 2
        ("Printer jammed on floor 3", "HW-01"),          # 3 exact repeat of 1
        ("printer JAMMED on floor 3!!", "HW-01"),        # 4 near repeat of 1
        ("Reset my password, please.", "BILL-01"),       # 5 contradicts 2
        ("Printer jammed on floor 3", "HW-01"),          # 6 exact repeat of 1
    ])
    report = inspect_path(path).to_dict()
    warnings = {w["code"]: w for w in report["warnings"]}
    assert warnings["duplicate"]["lines"] == [[1, 3], [1, 6]]
    assert warnings["near_duplicate"]["lines"] == [[1, 4]]
    assert warnings["contradiction"]["lines"] == [[2, 5]]
    assert "lines 2 and 5" in warnings["contradiction"]["message"]


def test_clean_set_has_no_quality_warnings(tmp_path):
    path = write_chat(tmp_path / "c.jsonl", [(f"Question number {i}?", f"Answer {i}.") for i in range(5)])
    report = inspect_path(path)
    assert not {"duplicate", "near_duplicate", "contradiction", "pii", "class_imbalance"} & set(codes(report))


@pytest.mark.parametrize("text, kind, secret", [
    ("write to jane.doe@example.com today", "email", "jane.doe@example.com"),
    ("call me on +44 20 7946 0958", "phone", "7946 0958"),
    ("call (415) 555-0132", "phone", "555-0132"),
    ("card 4111 1111 1111 1111 exp 09/27", "card", "4111 1111 1111 1111"),
    ("key sk-proj-abcdEFGH1234ijklMNOP5678qrst", "secret", "sk-proj-abcdEFGH1234ijklMNOP5678qrst"),
    ("aws AKIAIOSFODNN7EXAMPLE", "secret", "AKIAIOSFODNN7EXAMPLE"),
    ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "secret", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("token=Zx8Qp2LmN7vR4tY1wK9sB3cD6fG0hJ5aE", "secret", "Zx8Qp2LmN7vR4tY1wK9sB3cD6fG0hJ5aE"),
    ("server 192.168.10.20 is down", "ip", "192.168.10.20"),
    ("1.2.3.4 answered", "ip", "1.2.3.4"),                  # at the very start
    ("Rebooted. Still down. Ran it twice. Host 10.0.0.7 is down.", "ip", "10.0.0.7"),
    ("host 2001:db8::8a2e:370:7334 down", "ip", "2001:db8::8a2e:370:7334"),
])
def test_pii_kinds_are_found_and_masked(tmp_path, text, kind, secret):
    path = write_chat(tmp_path / "p.jsonl", [("hello", "hi"), (text, "noted")])
    warning = inspect_path(path).warning("pii")
    assert warning is not None and warning.lines == [2]
    assert KIND_NAMES[kind] in warning.message
    assert secret not in warning.message  # never echo the full value
    assert [f.kind for f in find_pii(text)] == [kind]


@pytest.mark.parametrize("text", [
    "order 48213 shipped on 2024-05-01",
    "ticket 1234567890123 (not a valid card number)",
    "sha 3f786850e387550fdab836ed7e6dc881de23001b",
    "version 1.2.3.4.5 at 12:30:45, price 1,299.00",
    "see https://example.com/docs/getting-started",
])
def test_ordinary_text_is_not_pii(text):
    assert list(find_pii(text)) == []


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("5500 0000 0000 0004")
    assert not luhn_ok("4111111111111112") and not luhn_ok("0000000000000000")


def test_labels_and_class_imbalance(tmp_path):
    pairs = [(f"printer issue {i}", "HW-01") for i in range(20)] + \
            [(f"refund {i}", "BILL-02") for i in range(10)] + [("hacked account", "SEC-09")] * 1
    path = write_chat(tmp_path / "l.jsonl", pairs)
    report = inspect_path(path)
    assert report.labels == {"HW-01": 20, "BILL-02": 10, "SEC-09": 1}
    warning = report.warning("class_imbalance")
    assert warning.lines == [31] and "'SEC-09' (1)" in warning.message


def test_free_text_outputs_are_not_labels(tmp_path):
    path = write_chat(tmp_path / "f.jsonl",
                      [(f"q{i}", f"A long and different answer number {i} with detail.") for i in range(8)])
    report = inspect_path(path)
    assert report.labels is None and report.warning("class_imbalance") is None


@pytest.mark.parametrize("outputs, task, minimum", [
    (["HW-01", "BILL-02"] * 10, "classification", 50),
    ([json.dumps({"id": i, "name": "x"}) for i in range(20)], "extraction", 100),
    (["```python\ndef f():\n    return %d\n```" % i for i in range(20)], "code", 1000),
    ([f"A free-form explanation, number {i}, of how the thing works." for i in range(20)], "domain", 500),
])
def test_too_few_examples_uses_the_inferred_task_type(tmp_path, outputs, task, minimum):
    path = write_chat(tmp_path / "t.jsonl", [(f"input {i}", out) for i, out in enumerate(outputs)])
    report = inspect_path(path)
    assert report.task_type["type"] == task and report.task_type["assumed"]
    warning = report.warning("too_few_examples")
    assert f"at least {minimum}" in warning.message and "assumed" in warning.message


def test_task_type_override_changes_the_threshold(tmp_path):
    path = write_chat(tmp_path / "t.jsonl", [(f"in {i}", ["A", "B"][i % 2]) for i in range(60)])
    assert inspect_path(path).warning("too_few_examples") is None  # 60 >= 50 for labels
    forced = inspect_path(path, task_type="domain")
    assert "at least 500" in forced.warning("too_few_examples").message
    assert forced.task_type == {"type": "domain", "name": "domain expertise", "assumed": False,
                                "reason": "given with --task-type", "minimum": 500, "good": 5000}
    with pytest.raises(ValueError):
        inspect_path(path, task_type="poetry")


def test_token_stats_and_too_long_with_a_real_tokenizer(tmp_path, tiny_tokenizer):
    short, long_text = "Reset my password", " ".join(["The printer on floor 3 is jammed again."] * 30)
    path = write_chat(tmp_path / "tok.jsonl", [(short, "ACC-01"), (long_text, "HW-01"), (short + "!", "ACC-01")])
    report = inspect_path(path, tokenizer=tiny_tokenizer, max_length=64)
    expected = [len(tiny_tokenizer.apply_chat_template(
        [{"role": "user", "content": q}, {"role": "assistant", "content": a}], tokenize=True,
        return_dict=True)["input_ids"]) for q, a in [(short, "ACC-01"), (long_text, "HW-01"), (short + "!", "ACC-01")]]
    assert report.token_lengths == expected
    tokens = report.tokens
    assert (tokens["min"], tokens["max"], tokens["median"]) == (min(expected), max(expected), sorted(expected)[1])
    assert tokens["n_too_long"] == 1 and tokens["max_length"] == 64
    assert report.warning("too_long").lines == [2]


def test_no_tokenizer_means_no_token_stats(tmp_path):
    report = inspect_path(write_chat(tmp_path / "n.jsonl", [("a", "b")]))
    assert report.tokens is None and report.warning("too_long") is None


def test_a_conversation_the_template_rejects_is_counted_as_plain_text(tiny_tokenizer):
    from ft_tui.core.data.tokens import TokenCounter

    tokenizer = tiny_tokenizer.__class__.from_pretrained(tiny_tokenizer.name_or_path)
    tokenizer.chat_template = ("{% for m in messages %}{% if m['role'] == 'tool' %}"
                               "{{ raise_exception('tools are not supported') }}{% endif %}"
                               "{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}")
    ok = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    tool = [{"role": "user", "content": "q"}, {"role": "tool", "content": "{}"},
            {"role": "assistant", "content": "a"}]
    with TokenCounter(tokenizer, max_length=8, batch_size=2) as counter:
        for line, conv in enumerate([ok, tool, ok], start=1):
            counter.add(line, conv)
    assert list(counter.lines) == [1, 2, 3] and counter.template_failures == 1
    assert counter.lengths[0] == counter.lengths[2] > 0 and counter.lengths[1] > 0


def test_later_batches_count_exactly_like_apply_chat_template(tiny_tokenizer):
    from ft_tui.core.data.tokens import TokenCounter

    convs = [[{"role": "system", "content": "Route tickets."},
              {"role": "user", "content": f"printer {i} jammed " * (i + 1)},
              {"role": "assistant", "content": f"HW-0{i}"}] for i in range(7)]
    with TokenCounter(tiny_tokenizer, max_length=40, batch_size=2) as counter:
        for i, conv in enumerate(convs):
            counter.add(i + 1, conv)
    assert counter._fast_render is not None  # the verified shortcut served batches 2-4
    expected = [len(tiny_tokenizer.apply_chat_template(c, tokenize=True, return_dict=True)["input_ids"])
                for c in convs]
    assert list(counter.lengths) == expected
    assert counter.too_long_lines() == [i + 1 for i, n in enumerate(expected) if n > 40]

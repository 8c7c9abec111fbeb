"""The actions: a reproducible (stratified) split and a cleaned copy beside the original."""

import json
from collections import Counter

import pytest

from ft_tui.core.data import load_examples, split_examples, write_cleaned, write_split


def write_chat(path, pairs):
    path.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": q}, {"role": "assistant", "content": a}]}) + "\n"
        for q, a in pairs), encoding="utf-8")
    return path


def labelled(tmp_path, counts):
    pairs = [(f"ticket {label} {i}", label) for label, n in counts.items() for i in range(n)]
    return load_examples(write_chat(tmp_path / "l.jsonl", pairs)).examples


def test_split_is_reproducible_and_seed_dependent(tmp_path):
    examples = load_examples(write_chat(tmp_path / "f.jsonl",
                                        [(f"q{i}", f"free answer {i} here") for i in range(50)])).examples
    a = split_examples(examples, 0.2, seed=7)
    b = split_examples(examples, 0.2, seed=7)
    c = split_examples(examples, 0.2, seed=8)
    lines = lambda part: [ex.line for ex in part]  # noqa: E731
    assert lines(a[1]) == lines(b[1]) and lines(a[1]) != lines(c[1])
    assert len(a[1]) == 10 and sorted(lines(a[0]) + lines(a[1])) == list(range(1, 51))
    assert lines(a[0]) == sorted(lines(a[0]))  # file order kept


def test_split_is_stratified_by_label(tmp_path):
    examples = labelled(tmp_path, {"HW": 60, "BILL": 30, "SEC": 10})
    train, held_out = split_examples(examples, 0.1, seed=1)
    assert Counter(ex.output_text() for ex in held_out) == {"HW": 6, "BILL": 3, "SEC": 1}
    assert len(train) == 90


def test_split_keeps_a_singleton_label_in_train(tmp_path):
    examples = labelled(tmp_path, {"A": 10, "B": 9, "C": 1})
    train, held_out = split_examples(examples, 0.5, seed=3)
    assert "C" in {ex.output_text() for ex in train}
    assert len(held_out) == 10


def test_split_edge_cases(tmp_path):
    examples = labelled(tmp_path, {"A": 3})
    assert split_examples(examples, 0.0, 1) == (examples, [])
    assert len(split_examples(examples[:2], 0.01, 1)[1]) == 1  # at least one held out
    assert split_examples(examples[:1], 0.5, 1) == (examples[:1], [])
    with pytest.raises(ValueError):
        split_examples(examples, 1.0, 1)


def test_write_cleaned_drops_repeats_and_bad_rows_and_keeps_the_original(tmp_path):
    path = write_chat(tmp_path / "train.jsonl", [("a", "1"), ("b", "2"), ("a", "1"), ("B!", "2")])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n{broken\n" + json.dumps({"messages": [{"role": "user", "content": "c"},
                                                          {"role": "assistant", "content": "3"}]}) + "\n")
    before = path.read_bytes()
    out = write_cleaned(path)
    assert out == tmp_path / "train.cleaned.jsonl"
    assert path.read_bytes() == before
    cleaned = load_examples(out)
    assert cleaned.errors == []
    assert [ex.input_text() for ex in cleaned.examples] == ["a", "b", "c"]
    # Rows are copied verbatim, not re-serialised.
    assert out.read_text().splitlines()[0] == before.decode().splitlines()[0]


def test_write_cleaned_options_and_refusal_to_overwrite(tmp_path):
    path = write_chat(tmp_path / "t.jsonl", [("a", "1"), ("a", "1")])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("{broken\n")
    kept = write_cleaned(path, out=tmp_path / "k.jsonl", dedupe=False, drop_invalid=False)
    assert kept.read_text().count("\n") == 3
    with pytest.raises(ValueError):
        write_cleaned(path, out=path)
    assert not list(tmp_path.glob(".*.tmp"))  # no temp files left behind


def test_write_cleaned_json_array_and_text_keep_their_format(tmp_path):
    arr = tmp_path / "a.json"
    arr.write_text(json.dumps([{"prompt": "p", "completion": "c"}] * 2
                              + [{"prompt": "q", "completion": ""}], indent=2), encoding="utf-8")
    out = write_cleaned(arr)
    assert out.name == "a.cleaned.json"
    assert json.loads(out.read_text()) == [{"prompt": "p", "completion": "c"}]
    txt = tmp_path / "t.txt"
    txt.write_bytes(b"\xef\xbb\xbfq ### a\r\nq ### a\r\nr ### b\r\n")
    assert write_cleaned(txt).read_text() == "q ### a\nr ### b\n"


def test_write_split_files_are_disjoint_and_complete(tmp_path):
    path = write_chat(tmp_path / "d.jsonl", [(f"t {i}", ["X", "Y"][i % 2]) for i in range(40)])
    train_path, eval_path = write_split(path, eval_fraction=0.25, seed=5)
    assert (train_path.name, eval_path.name) == ("d.train.jsonl", "d.eval.jsonl")
    train, held = load_examples(train_path).examples, load_examples(eval_path).examples
    assert len(held) == 10 and Counter(ex.output_text() for ex in held) == {"X": 5, "Y": 5}
    assert {ex.input_text() for ex in train}.isdisjoint(ex.input_text() for ex in held)
    expected = split_examples(load_examples(path).examples, 0.25, 5)[1]
    assert [ex.input_text() for ex in held] == [ex.input_text() for ex in expected]

"""A single enormous line (a dump pasted into one row) is not tokenised whole for the length
check: only a bounded start of it reaches the tokenizer, and the example is still reported
too long, at its line, with the prompt-fills-the-limit case told apart."""

import json

from ft_tui.core.data.report import inspect_path

HUGE = 3_000_000   # characters: a 3 MB line


class _Recording:
    """The Rust tokenizer, recording the longest text it is handed."""

    def __init__(self, inner):
        self._inner = inner
        self.longest = 0

    def _seen(self, items):
        for item in items:
            parts = item if isinstance(item, (tuple, list)) else (item,)
            self.longest = max([self.longest] + [len(p) for p in parts if isinstance(p, str)])

    def encode_batch_fast(self, texts, *args, **kwargs):
        self._seen(texts)
        return self._inner.encode_batch_fast(texts, *args, **kwargs)

    def encode_batch(self, texts, *args, **kwargs):
        self._seen(texts)
        return self._inner.encode_batch(texts, *args, **kwargs)

    def encode(self, text, *args, **kwargs):
        self._seen([text])
        return self._inner.encode(text, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _chat(user, answer):
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def test_a_multi_megabyte_line_is_reported_too_long_without_tokenising_it_whole(tmp_path, tiny_model_dir):
    from ft_tui.core.models.resolve import load_tokenizer

    log = ("2026-12-07 21:04:11 ERROR printer-3 paper jam in tray 2; retrying job 4411\n" * 50_000)[:HUGE]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (
        _chat("Printer jammed", "HW-01"),
        _chat("Classify this log:\n" + log, "HW-01"),        # the prompt fills the limit
        _chat("Charged twice", "BILL-02"),
        _chat("Summarise the printer log", log))))          # the answer is the huge part
    tokenizer = load_tokenizer(tiny_model_dir)
    recording = tokenizer._tokenizer = _Recording(tokenizer._tokenizer)

    report = inspect_path(path, tokenizer, max_length=64)

    too_long = next(w for w in report.warnings if w.code == "too_long")
    assert too_long.lines == [2, 4]
    assert "2 of them are so long" in too_long.message and "e.g. line 2" in too_long.message
    untrained = next(w for w in report.warnings if w.code == "no_trained_token")
    assert untrained.lines == [2]                           # line 4's answer starts in time
    assert report.tokens["n_too_long"] == 2 and report.tokens["n_cut"] == 2
    assert report.tokens["max"] > 64
    assert 0 < recording.longest < HUGE // 10, recording.longest   # never the whole line

    from ft_tui.tui.steps.data_work import token_stats_text   # the wizard says it is a bound
    assert f"max at least {report.tokens['max']}" in token_stats_text(report.to_dict()).plain


def test_training_tokenises_a_huge_message_only_as_far_as_it_keeps(tiny_model_dir):
    """Training kept the first max_length tokens of a 3 MB message but tokenised all of it
    first (a 50 MB one: 37 s and about 8 GB). The rows are the same with the bound."""
    from ft_tui.core.models.resolve import load_tokenizer
    from ft_tui.core.training.dataset import TrainData

    log = ("2026-12-07 21:04:11 ERROR printer-3 paper jam in tray 2; retrying job 4411\n" * 50_000)[:HUGE]
    conversations = [(1, _chat("Printer jammed", "HW-01")["messages"], None),
                     (2, _chat("Summarise the printer log", log)["messages"], None)]

    def rows(max_length, tokenizer):
        data = TrainData([], [], conversations=(conversations, []), max_length=max_length)
        data.tokenize(tokenizer)
        return [(r["input_ids"][:max_length], r["labels"][:max_length]) for r in data.train_rows]

    tokenizer = load_tokenizer(tiny_model_dir)
    recording = tokenizer._tokenizer = _Recording(tokenizer._tokenizer)
    bounded = rows(64, tokenizer)
    assert 0 < recording.longest < HUGE // 10, recording.longest   # never the whole message
    whole = rows(None, load_tokenizer(tiny_model_dir))              # no bound: all of it
    assert bounded == [(ids[:64], labels[:64]) for ids, labels in whole]
    assert any(x != -100 for x in bounded[1][1])                    # the answer is trained

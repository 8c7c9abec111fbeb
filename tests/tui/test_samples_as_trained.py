"""The Samples tab shows an example as the trainer sees it: the template's text, what
max_length cuts off marked as not trained, and a browser that says when it is capped;
`ft-tui inspect --show-mask` honours --max-length the same way."""

import json

import pytest
from textual.widgets import Static

from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.steps.data import DataStep
from tests.tui.render_text import plain
from tests.tui.test_data_step import _settle

pytestmark = pytest.mark.anyio

LONG_ANSWER = " ".join(f"step{i} restart the spooler and clear tray {i}." for i in range(40))


def _rows(n: int) -> str:
    first = {"messages": [{"role": "user", "content": "How do I fix the printer?"},
                          {"role": "assistant", "content": LONG_ANSWER}]}
    short = [{"messages": [{"role": "user", "content": f"Ticket {i}"},
                           {"role": "assistant", "content": "HW-01"}]} for i in range(n - 1)]
    return "".join(json.dumps(r) + "\n" for r in [first, *short])


async def test_an_answer_cut_at_max_length_is_not_shown_as_trained(tmp_path, monkeypatch, tiny_model_dir):
    monkeypatch.chdir(tmp_path)
    from ft_tui.tui.steps import data_work

    real_first = data_work.first_examples
    monkeypatch.setattr(data_work, "MAX_SAMPLES", 5)          # a small cap, as 500 is for big files
    monkeypatch.setattr(data_work, "first_examples", lambda path: real_first(path, 5))
    (tmp_path / "train.jsonl").write_text(_rows(9))
    app = FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))
    app.state.cfg = app.state.cfg.with_overrides(
        {"data.train_path": "train.jsonl", "model.name": str(tiny_model_dir), "data.max_length": 64})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await _settle(app, pilot)
        step = app.query_one(DataStep)
        step.query_one("#data-tabs").active = "tab-samples"
        await pilot.pause()
        assert "Example 1 of 5 (capped: the file has 9)" in plain(step.query_one("#sample-pos", Static))
        chat = plain(step.query_one("#chat", Static))
        assert "assistant · trained only up to max_length" in chat
        assert "assistant · trained" + " " * 3 not in chat
        tokens = step.query_one("#sample-tokens", Static)
        summary = plain(tokens)
        assert "cut at max_length 64" in summary and "not trained" in summary
        assert "tray 39." in summary                         # the cut text is still shown…
        struck = [span for span in tokens.content.spans if "strike" in str(span.style)]
        assert struck                                        # …struck through
        await pilot.press("right_square_bracket")
        assert "cut at max_length" not in plain(step.query_one("#sample-tokens", Static))


def test_show_mask_honours_max_length(tmp_path, capsys, tiny_model_dir):
    from ft_tui.cli import main

    path = tmp_path / "chat.jsonl"
    path.write_text(_rows(2))
    args = ["inspect", str(path), "--model", str(tiny_model_dir), "--show-mask", "1", "--json"]
    assert main(args) == 0
    full = json.loads(capsys.readouterr().out)
    assert main(args + ["--max-length", "40"]) == 0
    cut = json.loads(capsys.readouterr().out)
    assert cut["trained_tokens"] < full["trained_tokens"]
    trained = "".join(s["text"] for s in cut["segments"] if s["trained"])
    lost = "".join(s["text"] for s in cut["segments"] if s.get("cut"))
    assert "tray 39." in lost and "tray 39." not in trained

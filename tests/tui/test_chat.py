"""The chat screen: both models answer side by side, streamed from a worker (tiny model)."""

import pytest

from ft_tui.core.models import chat as chat_core
from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.screens.chat import ChatScreen
from tests.fixtures.eval_run import build_run_dir

pytestmark = pytest.mark.anyio


async def test_chat_streams_both_answers_at_80x24(tmp_path, monkeypatch, tiny_model_dir, isolated_cache):
    run = build_run_dir(tmp_path, tiny_model_dir, max_new_tokens=16)
    pieces = []
    real = chat_core.stream_reply

    def spy(model, tokenizer, messages, on_text, **kw):
        pieces.append(messages)
        return real(model, tokenizer, messages, lambda p: (on_text(p), pieces.append(p)), **kw)

    monkeypatch.setattr(chat_core, "stream_reply", spy)
    monkeypatch.chdir(tmp_path)
    app = FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(ChatScreen(run))
        await pilot.pause()
        screen = app.screen
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Ready. System prompt: Classify the support ticket" in str(
            screen.query_one("#chat-status").render())
        await pilot.press(*"refund please", "enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        base = screen.transcripts["base"].plain
        tuned = screen.transcripts["finetuned"].plain
        assert base.startswith("you: refund please") and tuned.startswith("you: refund please")
        # the run's system prompt went to both models, then the user's turn
        assert pieces[0][0] == {"role": "system",
                                "content": "Classify the support ticket as billing, technical or account."}
        assert base != tuned  # the adapter changes the answer
        assert len([p for p in pieces if isinstance(p, str)]) > 2  # streamed in pieces
        # both panes fit side by side at 80 columns
        left, right = screen.query_one("#pane-base"), screen.query_one("#pane-finetuned")
        assert left.region.right <= right.region.x and right.region.right <= 80
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ChatScreen)

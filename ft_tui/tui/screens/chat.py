"""Chat with a run: the base and the fine-tuned answer side by side, streamed.

Opened from the Evaluate & Export step (`t`). Both models are loaded once in a thread
worker; each prompt is answered by the base, then the fine-tuned model, piece by piece.
The worker only posts messages; the panes are changed on the app thread.
Keys: Enter sends, Ctrl+L clears the conversation, Esc stops an answer or closes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Static

TITLES = {"base": "Base (prompted)", "finetuned": "Fine-tuned"}


class ChatScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ChatScreen { align: center middle; }
    ChatScreen > Vertical { width: 100%; height: 100%; background: $surface; padding: 0 1; }
    ChatScreen #chat-status { height: auto; color: $text-muted; }
    ChatScreen #chat-panes { height: 1fr; }
    ChatScreen .chat-pane { width: 1fr; height: 1fr; border: round $primary; padding: 0 1; }
    ChatScreen .chat-text { height: auto; }
    ChatScreen #chat-input { margin: 0; }
    """
    BINDINGS = [
        Binding("escape", "stop_or_close", "Stop / close"),
        Binding("ctrl+l", "clear", "Clear"),
    ]

    @dataclass
    class Piece(Message):
        side: str
        text: str

    @dataclass
    class Status(Message):
        text: str
        ready: bool = False
        failed: bool = False

    def __init__(self, run_dir: str | Path) -> None:
        super().__init__()
        self.run_dir = str(run_dir)
        self.session = None
        self.busy = True           # loading, or answering
        self.transcripts = {"base": Text(), "finetuned": Text()}
        self._stop = threading.Event()
        self._prompts: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Chat with {Path(self.run_dir).name}: loading both models …", id="chat-status")
            with Horizontal(id="chat-panes"):
                for side, title in TITLES.items():
                    with VerticalScroll(classes="chat-pane", id=f"pane-{side}") as pane:
                        pane.border_title = title
                        pane.can_focus = False
                        yield Static(id=f"chat-{side}", classes="chat-text")
            yield Input(placeholder="Type a prompt, Enter sends · Ctrl+L clears · Esc closes",
                        id="chat-input", compact=True)

    def on_mount(self) -> None:
        self.query_one("#chat-input", Input).focus()
        self._load()

    # ----- worker -------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="chat-load")
    def _load(self) -> None:
        from ft_tui.core.models.chat import open_chat

        try:
            self.session = open_chat(self.run_dir, log=lambda m: self.post_message(self.Status(m + " …")))
        except Exception as exc:  # one line on screen, never a traceback
            self.post_message(self.Status(f"✗ cannot open the chat: {exc}", failed=True))
            return
        system = self.session.system_prompt
        self.post_message(self.Status(
            "Ready. System prompt: " + (system[:120] + ("…" if len(system) > 120 else "")
                                        if system else "(none)"), ready=True))

    @work(thread=True, exclusive=True, exit_on_error=False, group="chat-answer")
    def _answer(self, prompt: str) -> None:
        from ft_tui.core.models.chat import SIDES

        try:
            for side in SIDES:
                self.post_message(self.Status(f"{TITLES[side]} is answering … (Esc stops)"))
                self.session.reply(side, prompt, lambda piece, s=side: self.post_message(self.Piece(s, piece)),
                                   should_stop=self._stop.is_set)
                self.post_message(self.Piece(side, "\n\n"))
        except Exception as exc:
            self.post_message(self.Status(f"✗ generation failed: {exc}", ready=True, failed=True))
            return
        self.post_message(self.Status("Stopped." if self._stop.is_set() else "Ready.", ready=True))

    # ----- messages (app thread) ---------------------------------------------------------
    @on(Piece)
    def _piece(self, message: Piece) -> None:
        message.stop()
        self.transcripts[message.side].append(message.text)
        self._show(message.side)

    @on(Status)
    def _status(self, message: Status) -> None:
        message.stop()
        self.query_one("#chat-status", Static).update(Text(message.text))
        if message.ready:
            self.busy = False
        elif message.failed:
            self.busy = True  # nothing to chat with

    def _show(self, side: str) -> None:
        self.query_one(f"#chat-{side}", Static).update(self.transcripts[side])
        self.query_one(f"#pane-{side}", VerticalScroll).scroll_end(animate=False)

    # ----- actions -----------------------------------------------------------------------
    @on(Input.Submitted, "#chat-input")
    def _send(self, event: Input.Submitted) -> None:
        event.stop()
        prompt = event.value.strip()
        if not prompt or self.busy or self.session is None:
            self.app.bell()
            return
        event.input.value = ""
        self.busy = True
        self._stop.clear()
        for side in TITLES:
            self.transcripts[side].append(f"you: {prompt}\n", style="bold")
            self._show(side)
        self._answer(prompt)

    def action_stop_or_close(self) -> None:
        if self.busy and self.session is not None:
            self._stop.set()
            return
        self._stop.set()
        self.dismiss(None)

    def action_clear(self) -> None:
        if self.busy:
            return
        if self.session is not None:
            self.session.clear()
        self.transcripts = {side: Text() for side in TITLES}
        for side in TITLES:
            self._show(side)

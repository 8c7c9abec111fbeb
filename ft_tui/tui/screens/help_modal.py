"""The `?` help: the current step's HELP markdown in a modal."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Markdown


class HelpModal(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpModal {
        align: center middle;
    }
    HelpModal > Vertical {
        width: 90%;
        max-width: 100;
        height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    HelpModal VerticalScroll {
        height: 1fr;
    }
    HelpModal #help-hint {
        color: $text-muted;
        width: 1fr;
        text-align: right;
    }
    """

    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, title: str, markdown: str) -> None:
        super().__init__()
        self.help_title = title
        self.markdown = markdown

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Markdown(f"# {self.help_title}\n\n{self.markdown}", id="help-text")
            yield Label("Esc closes", id="help-hint")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

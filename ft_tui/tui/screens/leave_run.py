"""Quitting while a run trains in its own process: leave it going (the default) or stop it.

Keys: l (or Enter on the focused Leave button) leaves, s stops with a checkpoint, Esc
cancels. Dismisses with "leave", "stop" or None.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class LeaveRunModal(ModalScreen[str | None]):
    DEFAULT_CSS = """
    LeaveRunModal { align: center middle; }
    LeaveRunModal > Vertical {
        width: 70; max-width: 95%; height: auto;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    LeaveRunModal #question { margin-bottom: 1; }
    LeaveRunModal Horizontal { height: auto; align-horizontal: right; }
    LeaveRunModal Button { margin-left: 2; min-width: 0; width: auto; }
    """
    BINDINGS = [
        Binding("l", "answer('leave')", "Leave it running"),
        Binding("s", "answer('stop')", "Stop with a checkpoint"),
        Binding("escape", "answer(None)", "Cancel"),
    ]

    def __init__(self, run_path: str, come_back: str) -> None:
        super().__init__()
        self.run_path = run_path
        self.come_back = come_back

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"A run is training in its own process: {self.run_path}\n\n"
                         "Leave it running and close the wizard? It goes on without it; come "
                         f"back with {self.come_back}.\nOr stop it: a checkpoint is saved "
                         "first, and Resume continues from it.", id="question", markup=False)
            with Horizontal():
                yield Button("Cancel (Esc)", id="cancel", compact=True)
                yield Button("Stop it (s)", id="stop", variant="warning", compact=True)
                yield Button("Leave it running (l)", id="leave", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#leave", Button).focus()   # the default: nothing is lost

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss({"leave": "leave", "stop": "stop"}.get(event.button.id))

    def action_answer(self, value: str | None) -> None:
        self.dismiss(value)

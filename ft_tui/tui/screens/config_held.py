"""The wizard's config is held by another wizard (core/config/wizard_lock.py): say who,
since when, how to get that one back, and offer to open this one read-only or quit.

Keys: r opens read-only, q or Esc quits. Dismisses with "read-only" or "quit".
"""

from __future__ import annotations

import shlex
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ft_tui.core.config.wizard_lock import LockHolder


def held_message(holder: LockHolder, config_path: Path, lock_path: Path) -> str:
    """Who holds the config and what to do about it, in plain words (also printed on quit)."""
    config = shlex.quote(str(config_path))
    if holder.on_this_host:
        where = ("It is probably still running in a detached tmux or screen session.\n"
                 "Get it back with:  tmux attach   (or: screen -r)")
    else:
        where = (f"ft-tui cannot see processes on {holder.host} from here. If that wizard is "
                 f"gone, delete {shlex.quote(str(lock_path))} and start ft-tui again.")
    return (f"{config} is open in another wizard: {holder.describe()}.\n{where}\n"
            f"For a second, independent wizard, give it its own config (a copy of this "
            f"one starts from the same settings):\n"
            f"  ft-tui --config other.yaml")


class ConfigHeldModal(ModalScreen[str]):
    DEFAULT_CSS = """
    ConfigHeldModal { align: center middle; }
    ConfigHeldModal > Vertical {
        width: 76; max-width: 98%; height: auto;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ConfigHeldModal #held-title { text-style: bold; }
    ConfigHeldModal #held-why, ConfigHeldModal #held-who { margin-top: 1; }
    ConfigHeldModal Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    ConfigHeldModal Button { margin-left: 2; min-width: 0; width: auto; }
    """
    BINDINGS = [
        Binding("r", "answer('read-only')", "Open read-only"),
        Binding("q,escape", "answer('quit')", "Quit"),
    ]

    def __init__(self, holder: LockHolder, config_path: Path, lock_path: Path) -> None:
        super().__init__()
        self.holder, self.config_path, self.lock_path = holder, config_path, lock_path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("This config is open in another wizard", id="held-title")
            yield Static(held_message(self.holder, self.config_path, self.lock_path),
                         id="held-who", markup=False)
            yield Static("Two wizards saving one config overwrite each other's settings. "
                         "Read-only, this one shows everything and follows runs, but never "
                         "saves the config.", id="held-why", markup=False)
            with Horizontal():
                yield Button("Quit (q)", id="quit", compact=True)
                yield Button("Open read-only (r)", id="read-only", variant="warning",
                             compact=True)

    def on_mount(self) -> None:
        self.query_one("#quit", Button).focus()   # the other wizard is the one to go back to

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id)

    def action_answer(self, value: str) -> None:
        self.dismiss(value)

"""Train step (stub being fleshed out)."""

from __future__ import annotations

from textual.containers import Container
from textual.widgets import Static


class TrainStep(Container):
    HELP = "Train the model."

    def __init__(self, state, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = state
        self._running = False

    @property
    def is_running(self) -> bool:
        return self._running

    def compose(self):
        yield Static("Train")

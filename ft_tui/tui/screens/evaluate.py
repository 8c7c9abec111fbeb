"""Evaluate & Export step (stub being fleshed out)."""

from __future__ import annotations

from textual.containers import Container
from textual.widgets import Static


class EvaluateStep(Container):
    HELP = "Evaluate and export."

    def __init__(self, state, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = state

    def compose(self):
        yield Static("Evaluate")

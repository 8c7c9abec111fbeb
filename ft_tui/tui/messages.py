"""Messages the step views and the app exchange.

Step views post them; they bubble up to the app, which owns the wizard state:
``StepCompleted`` marks a step done and saves, ``GoToStep`` switches the visible step,
``ConfigChanged`` saves ``state.cfg`` and is forwarded to every step view so the ones
that show config can refresh. Training messages live with the dashboard widget.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class StepCompleted(Message):
    """A step view finished its step (the user confirmed it)."""

    step_id: str


@dataclass
class GoToStep(Message):
    """Show another step."""

    step_id: str


class StateChanged(Message):
    """A step view changed the wizard's own progress (not ``state.cfg``): save it."""


def go_to_step(view, step_id: str) -> None:
    """Post GoToStep from a step view. The app learns of it at once (not when the message
    arrives), so keys typed ahead under lag act on the new step, never on the hidden one."""
    leave = getattr(view.app, "leave_step", None)
    if leave is not None:
        leave(step_id)
    view.post_message(GoToStep(step_id))


class ConfigChanged(Message):
    """``state.cfg`` was changed by a step view.

    The copy the app forwards to each step view has ``forwarded=True`` and does not
    bubble, so it never comes back to the app.
    """

    def __init__(self, forwarded: bool = False) -> None:
        super().__init__()
        self.forwarded = forwarded
        if forwarded:
            self.bubble = False

    def __repr__(self) -> str:
        return f"ConfigChanged(forwarded={self.forwarded})"

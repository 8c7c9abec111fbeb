"""One line that shows the six steps: which is current, which are done.

Marks carry the meaning, not colour alone (``NO_COLOR`` terminals): ``▶`` current,
``✓`` done, ``·`` not yet. Each step is clickable, but keys 1-6 do the same.
"""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from ft_tui.tui.state import STEPS

# Below this width the last title is shortened so all six fit on an 80-column line.
_WIDE = 90


class Stepper(Widget):
    DEFAULT_CSS = """
    Stepper {
        height: 1;
        width: 1fr;
        padding: 0 1;
        background: $panel;
    }
    """

    current: reactive[str] = reactive("decide")
    """Id of the step on screen."""
    completed: reactive[frozenset[str]] = reactive(frozenset())
    """Ids of the steps the user has finished."""

    def update_steps(self, current: str, completed: set[str] | frozenset[str]) -> None:
        self.current = current
        self.completed = frozenset(completed)

    def mark(self, step_id: str) -> str:
        if step_id == self.current:
            return "▶"
        return "✓" if step_id in self.completed else "·"

    def render(self) -> Content:
        wide = self.size.width >= _WIDE
        parts: list[str] = []
        for number, (step_id, title) in enumerate(STEPS, start=1):
            if not wide:
                title = title.split(" ")[0]
            if step_id == self.current:
                style = "bold reverse"
            elif step_id in self.completed:
                style = "$text-success"
            else:
                style = "$text-muted"
            text = f"{self.mark(step_id)} {number} {title}"
            parts.append(f"[{style} @click=app.go_to_step('{step_id}')]{text}[/]")
        return Content.from_markup("  ".join(parts) if wide else " ".join(parts))

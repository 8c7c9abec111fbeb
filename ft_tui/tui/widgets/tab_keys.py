"""Keys for a step's tab bar, so no tab is reachable only by cycling focus with Tab."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import TabbedContent, TabPane


def tab_bindings() -> list[Binding]:
    """``<`` and ``>`` move to the previous / next tab (one footer entry for both)."""
    return [Binding("less_than_sign", "tab(-1)", "Prev tab", show=False),
            Binding("greater_than_sign", "tab(1)", "Tabs", key_display="< >",
                    tooltip="Previous / next tab")]


def cycle_tab(tabs: TabbedContent, delta: int) -> str:
    """Make the tab ``delta`` places away the active one (wrapping); returns its id."""
    ids = [pane.id for pane in tabs.query(TabPane) if pane.id and not pane.disabled]
    if not ids:
        return tabs.active
    at = ids.index(tabs.active) if tabs.active in ids else 0
    tabs.active = ids[(at + delta) % len(ids)]
    return tabs.active

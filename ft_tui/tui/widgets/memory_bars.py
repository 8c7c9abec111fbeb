"""Peak training memory per method as bars against the memory there is.

Each bar is drawn on a common scale with a ``│`` at the capacity, and says in words
whether it fits, so the verdict does not depend on colour. The named parts of the
estimate (weights, gradients, optimizer, activations, ...) are listed under each bar.
"""

from __future__ import annotations

from typing import Any, Mapping

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

BAR_WIDTH = 36


def _gb(x: float) -> str:
    return f"{x:.1f} GB" if x >= 0.1 else f"{x * 1024:.0f} MB"


def bar_line(total: float, capacity: float | None, scale: float, width: int = BAR_WIDTH) -> Text:
    """``[█████░░░│░░]``: filled up to ``total``, the mark at ``capacity``."""
    filled = round(width * min(total, scale) / scale) if scale > 0 else 0
    mark = round(width * capacity / scale) if capacity and scale > 0 else None
    fits = capacity is None or total <= capacity
    text = Text("[")
    for i in range(width):
        if mark is not None and i == min(mark, width - 1):
            text.append("│", style="bold")
        elif i < filled:
            text.append("█", style="green" if fits or (mark is not None and i < mark) else "red")
        else:
            text.append("░", style="dim")
    text.append("]")
    return text


def render_estimates(estimates: Mapping[str, Any], capacity_gb: float | None,
                     capacity_label: str, recommended: str | None = None,
                     basis: str = "") -> Group:
    """One bar and one breakdown per method; ``estimates`` maps a method name to an
    object with ``total_gb`` and ``components`` (name -> GB)."""
    totals = [e.total_gb for e in estimates.values()]
    scale = max(totals + [capacity_gb or 0.0]) * 1.05 or 1.0
    head = (Text(f"Capacity: {_gb(capacity_gb)} ({capacity_label}); │ marks it.", style="dim")
            if capacity_gb else Text("No capacity to compare with.", style="dim"))
    if basis:
        head.append(f"\nPeak memory {basis}.", style="dim")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=5, no_wrap=True)
    grid.add_column()
    for method, est in estimates.items():
        line = bar_line(est.total_gb, capacity_gb, scale)
        line.append(f" {_gb(est.total_gb):>8} ")
        if capacity_gb is not None and est.total_gb <= capacity_gb:
            line.append("✓ fits", style="bold green")
        elif capacity_gb is not None:
            line.append(f"✗ needs {_gb(est.total_gb - capacity_gb)} more", style="bold red")
        if method == recommended:
            line.append("  ← recommended", style="bold")
        parts = " · ".join(f"{name} {_gb(gb)}" for name, gb in est.components.items() if gb > 0)
        line.append("\n" + parts, style="dim")
        grid.add_row(Text(method, style="bold"), line)
    return Group(head, grid)


class MemoryBars(Static):
    DEFAULT_CSS = """
    MemoryBars { height: auto; }
    """

    def show(self, estimates: Mapping[str, Any], capacity_gb: float | None, capacity_label: str,
             recommended: str | None = None, basis: str = "") -> None:
        self.update(render_estimates(estimates, capacity_gb, capacity_label, recommended, basis))

    def show_message(self, text: str) -> None:
        self.update(Text(text))

"""Peak training memory per method as bars against the memory there is.

Each bar is drawn on a common scale with a ``│`` at the capacity, and says in words
whether it fits, so the verdict does not depend on colour. The named parts of the
estimate (weights, gradients, optimizer, activations, ...) are listed under each bar.
"""

from __future__ import annotations

from typing import Mapping

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ft_tui.core.plan.methods import MethodCheck, settings_text

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


def render_estimates(checks: Mapping[str, MethodCheck], capacity_gb: float | None,
                     capacity_label: str, recommended: str | None = None,
                     basis: str = "") -> Group:
    """One bar and one breakdown per method (core's ``check_methods``): the peak at the
    asked settings, whether it fits or cannot run here, and at which batch size it would."""
    totals = [c.total_gb for c in checks.values()]
    scale = max(totals + [capacity_gb or 0.0]) * 1.05 or 1.0
    head = (Text(f"Capacity: {_gb(capacity_gb)} ({capacity_label}); │ marks it.", style="dim")
            if capacity_gb else Text("No capacity to compare with.", style="dim"))
    if basis:
        head.append(f"\nPeak memory {basis}.", style="dim")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=5, no_wrap=True)
    grid.add_column()
    for method, check in checks.items():
        line = bar_line(check.total_gb, capacity_gb, scale)
        line.append(f" {_gb(check.total_gb):>8} ")
        if check.blocked:
            line.append("✗ cannot run here", style="bold red")
        elif check.fits_asked:
            line.append("✓ fits", style="bold green")
        elif capacity_gb is not None:
            line.append(f"✗ needs {_gb(check.total_gb - capacity_gb)} more", style="bold red")
        if method == recommended:
            line.append("  ← recommended", style="bold")
        if check.blocked:
            line.append(f"\n{check.blocked}", style="bold")
        elif capacity_gb is not None and not check.fits_asked:
            line.append("\nfits at no batch size, even with checkpointing" if check.best is None
                        else f"\nfits at {settings_text(check.best)} ({_gb(check.best.total_gb)})",
                        style="bold")
        parts = " · ".join(f"{name} {_gb(gb)}" for name, gb in check.components.items() if gb > 0)
        line.append("\n" + parts, style="dim")
        if check.note:
            line.append(f"\n{check.note}", style="italic")
        grid.add_row(Text(method, style="bold"), line)
    return Group(head, grid)


class MemoryBars(Static):
    DEFAULT_CSS = """
    MemoryBars { height: auto; }
    """

    def show(self, estimates: Mapping[str, MethodCheck], capacity_gb: float | None, capacity_label: str,
             recommended: str | None = None, basis: str = "") -> None:
        self.update(render_estimates(estimates, capacity_gb, capacity_label, recommended, basis))

    def show_message(self, text: str) -> None:
        self.update(Text(text))

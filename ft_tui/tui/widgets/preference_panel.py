"""DPO/KTO's own signals on the dashboard (Train step and ``ft-tui monitor``).

Shows the ``PreferenceLog`` series (TRL's ``rewards/*`` logs) that the dashboard's
state folded, redrawn with the rest of the dashboard: the latest reward margin,
preference accuracy and chosen/rejected rewards, train and eval, each with a sparkline
of its history. Hidden until the first such event, so an SFT run never shows it. The
watchdog's warnings (margin collapsed, accuracy at chance) come as ``TrainWarning`` and
are shown by the dashboard's banner like every other warning.
"""

from __future__ import annotations

import math

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ft_tui.core.run.events import PreferenceLog

BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_POINTS = 40
SIGNALS = (("margin", "reward margin (chosen − rejected)", "+.3f"),
           ("accuracy", "preference accuracy", ".0%"),
           ("chosen", "chosen reward", "+.3f"),
           ("rejected", "rejected reward", "+.3f"))


def sparkline(values: list[float], width: int = SPARK_POINTS) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)][-width:]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    return "".join(BLOCKS[min(len(BLOCKS) - 1, int((v - lo) / span * (len(BLOCKS) - 1) + 0.5))]
                   for v in values)


class PreferencePanel(Static):
    DEFAULT_CSS = """
    PreferencePanel { height: auto; padding: 0 1; display: none; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)
        self.history: dict[str, dict[str, list[float]]] = {}
        self.last: dict[str, PreferenceLog] = {}

    def reset(self) -> None:
        self.history, self.last = {}, {}
        self.display = False
        self.update("")

    def show(self, history: dict[str, dict[str, list[float]]],
             last: dict[str, PreferenceLog]) -> None:
        """Show the series a DashboardState folded (one render, however many events)."""
        self.history, self.last = history, last
        if not last:
            self.reset()
            return
        self.display = True
        self.update(self.render_table())

    def render_table(self) -> Table:
        table = Table(title="DPO signals", title_justify="left", box=None, pad_edge=False)
        table.add_column("signal", style="bold")
        for split in self.history:
            table.add_column(f"{split} (step {self.last[split].step})", justify="right")
            table.add_column(f"{split} history")
        for name, label, spec in SIGNALS:
            row = [label]
            for split, series in self.history.items():
                value = getattr(self.last[split], name)
                row.append("–" if value is None else format(value, spec))
                row.append(sparkline(series[name]))
            if any(cell not in ("", "–") for cell in row[1:]):
                table.add_row(*row)
        return table

    def summary(self) -> str:
        """The latest signals as one line (text for tests and the log)."""
        parts = []
        for split, event in self.last.items():
            bits = [f"{label.split(' (')[0]} {format(getattr(event, name), spec)}"
                    for name, label, spec in SIGNALS if getattr(event, name) is not None]
            parts.append(f"{split}: " + ", ".join(bits))
        return Text("; ".join(parts)).plain

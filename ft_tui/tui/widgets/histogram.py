"""The data's shape: a token-length histogram (plotext) and a label distribution (text bars).

Each plot owns its ``self.plt`` (never the global plotext module); both are redrawn only
when a new report arrives.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static
from textual_plotext import PlotextPlot


class TokenHistogram(PlotextPlot):
    DEFAULT_CSS = """
    TokenHistogram { height: 14; min-height: 10; }
    """

    lengths: list[int] = []
    """The token counts on show (empty until the tokenizer has been loaded)."""

    def show(self, lengths: list[int] | None, max_length: int | None = None,
             note: str = "") -> None:
        self.lengths = list(lengths or [])
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if not lengths:
            plt.title(note or "Token lengths appear once the tokenizer is loaded")
            self.refresh()
            return
        plt.hist(lengths, bins=min(30, max(5, len(set(lengths)))))
        longest = max(lengths)
        title = f"Tokens per example ({len(lengths)} examples)"
        if max_length and max_length <= longest * 1.25:
            # Only when it is near the data: a far-off line would squash the bars.
            plt.vline(max_length)
            title += f"; the line is max_length {max_length}"
        elif max_length:
            title += f"; all within max_length {max_length}"
        plt.title(title)
        plt.xlabel("tokens")
        plt.ylabel("examples")
        self.refresh()


def label_bars(labels: dict[str, int] | None, width: int = 30, limit: int = 20) -> Table | Text:
    """Counts per label as text bars, largest first."""
    if not labels:
        return Text("No label distribution: the answers do not look like labels.")
    total = sum(labels.values()) or 1
    top = max(labels.values()) or 1
    table = Table(show_header=True, show_edge=False, pad_edge=False, box=None)
    table.add_column("label", overflow="ellipsis", max_width=28)
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    table.add_column("", no_wrap=True)
    items = sorted(labels.items(), key=lambda kv: -kv[1])
    for label, count in items[:limit]:
        bar = "█" * max(1, round(width * count / top))
        table.add_row(str(label), str(count), f"{100 * count / total:.0f}%", bar)
    if len(items) > limit:
        table.add_row(f"… {len(items) - limit} more", "", "", "")
    return table


class LabelBars(Static):
    DEFAULT_CSS = """
    LabelBars { height: auto; }
    """

    def show(self, labels: dict[str, int] | None) -> None:
        self.update(label_bars(labels))

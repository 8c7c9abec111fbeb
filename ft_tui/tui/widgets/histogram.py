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

    def show(self, lengths: list[int] | None, max_length: int | None = None,
             note: str = "") -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if not lengths:
            plt.title(note or "Token lengths appear once the tokenizer is loaded")
            self.refresh()
            return
        plt.hist(lengths, bins=min(30, max(5, len(set(lengths)))))
        if max_length:
            plt.vline(max_length)
            plt.title(f"Tokens per example ({len(lengths)} examples; line = max_length {max_length})")
        else:
            plt.title(f"Tokens per example ({len(lengths)} examples)")
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

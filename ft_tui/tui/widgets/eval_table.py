"""The per-example evaluation table (base vs fine-tuned answers with their scores), and
the summary and verdict lines shown above it.

Rows come from ``eval.json``'s ``examples``. ``o`` sorts by the next column, ``O`` flips
the order (clicking a header works too); the row keys are the example's index in the
report, so a selection survives sorting.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

# (column key, header); the score columns are named after the metric at load time.
# Short headers: at 80 columns every column fits on one line per example.
COLUMNS = (("line", "line"), ("prompt", "prompt"), ("reference", "wanted"),
           ("base", "base said"), ("finetuned", "tuned said"),
           ("base_score", "base"), ("ft_score", "tuned"), ("delta", "Δ"))
CELL_WIDTH = 28
# Fixed columns (line, three scores) and cell padding: what the text columns share the rest of.
# Measured at 80 columns: line, 3 scores, cell padding, border, and the scroll bar that
# more rows than fit bring (without it the Δ column was cut to "+0.").
FIXED_WIDTH = 36


def _clip(text: Any, width: int = CELL_WIDTH) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def per_example_metric(report: dict[str, Any]) -> str | None:
    """The score shown per row: the main metric when it is scored per example (corpus
    metrics such as macro-F1 are not), else the match score accuracy averages."""
    examples = report.get("examples") or []
    if not examples:
        return None
    names = examples[0].get("scores", {}).get("base", {})
    for name in (report.get("main_metric"), "normalized_match", "exact_match"):
        if name in names:
            return name
    return next(iter(names), None)


class EvalTable(DataTable):
    """Sortable base vs fine-tuned table; ``examples`` holds the report's examples."""

    BINDINGS = [
        Binding("o", "sort_next", "Sort"),
        Binding("O", "sort_reverse", "Reverse", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.examples: list[dict[str, Any]] = []
        self.metric: str | None = None
        self.sort_column = "line"
        self.sort_reverse = False

    def load(self, report: dict[str, Any]) -> None:
        self.examples = list(report.get("examples") or [])
        self.metric = per_example_metric(report)
        self.sort_column, self.sort_reverse = "line", False
        self._fill()

    def _fill(self) -> None:
        """(Re)build the rows in the current sort order, keeping the selected example."""
        selected = self.example_index_at_cursor()
        self._widths_used = self._text_widths()
        self.clear(columns=True)
        for key, label in COLUMNS:
            self.add_column(label, key=key)
        order = sorted(range(len(self.examples)), key=self._sort_value, reverse=self.sort_reverse)
        for index in order:
            example = self.examples[index]
            base, tuned = self._scores(example)
            delta = None if base is None or tuned is None else tuned - base
            prompt_w, ref_w, answer_w = self._text_widths()
            self.add_row(example.get("line", index + 1), _clip(example.get("prompt", ""), prompt_w),
                         _clip(example.get("reference", ""), ref_w),
                         _clip(example.get("base", ""), answer_w),
                         _clip(example.get("finetuned", ""), answer_w), _score(base), _score(tuned),
                         _score(delta, signed=True), key=str(index))
        if selected is not None:
            self.move_cursor(row=self.get_row_index(str(selected)), animate=False)
        arrow = "↓" if self.sort_reverse else "↑"
        self.border_title = (f"{len(self.examples)} held-out examples · sorted by "
                             f"{dict(COLUMNS)[self.sort_column]} {arrow} (o: next column, O: reverse)")

    def _text_widths(self) -> tuple[int, int, int]:
        """Widths of the prompt, reference and answer cells: one line per example with
        every column on screen (80 columns too); the detail panes show the whole text."""
        width = self.size.width or (self.app.size.width - 4)
        room = max(30, width - FIXED_WIDTH)
        answer = min(CELL_WIDTH, max(10, room * 25 // 100))
        reference = min(16, max(6, room * 15 // 100))
        prompt = min(CELL_WIDTH, room - reference - 2 * answer)
        return max(6, prompt), reference, answer

    def on_resize(self) -> None:
        if self.examples and self._widths_used != self._text_widths():
            self._fill()

    _widths_used: tuple[int, int, int] | None = None

    def _scores(self, example: dict[str, Any]) -> tuple[float | None, float | None]:
        scores = example.get("scores") or {}
        if self.metric is None:
            return None, None
        return scores.get("base", {}).get(self.metric), scores.get("finetuned", {}).get(self.metric)

    def example_index_at_cursor(self) -> int | None:
        if not self.examples or self.row_count == 0:
            return None
        return int(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)

    def example_at_cursor(self) -> dict[str, Any] | None:
        index = self.example_index_at_cursor()
        return None if index is None else self.examples[index]

    def _sort_value(self, index: int):
        example, column = self.examples[index], self.sort_column
        if column == "line":
            return (example.get("line", index), index)
        if column in ("prompt", "reference", "base", "finetuned"):
            return (str(example.get(column, "")).lower(), index)
        base, tuned = self._scores(example)
        value = {"base_score": base, "ft_score": tuned,
                 "delta": None if base is None or tuned is None else tuned - base}[column]
        return (value is None, value or 0.0, index)   # unscored rows last

    def sort_by(self, column: str, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._fill()

    def action_sort_next(self) -> None:
        keys = [key for key, _ in COLUMNS]
        self.sort_by(keys[(keys.index(self.sort_column) + 1) % len(keys)])

    def action_sort_reverse(self) -> None:
        self.sort_by(self.sort_column, not self.sort_reverse)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        self.sort_by(column, not self.sort_reverse if column == self.sort_column else False)


def _score(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def summary_text(report: dict[str, Any]) -> Text:
    """Base → fine-tuned per metric on one wrapping line; the main metric first, in bold."""
    from ft_tui.core.evaluate.report import NEUTRAL_METRICS
    from ft_tui.core.evaluate.metrics import METRIC_LABELS

    main = report.get("main_metric")
    text = Text()
    rows = sorted(report.get("summary", {}).items(), key=lambda item: item[0] != main)
    for i, (name, row) in enumerate(rows):
        if i:
            text.append(" · ")
        label = METRIC_LABELS.get(name, name) + (" (info)" if name in NEUTRAL_METRICS else "")
        text.append(f"{label} ", style="bold" if name == main else "")
        text.append(f"{_fmt(row.get('base'))} → {_fmt(row.get('finetuned'))}",
                    style="bold" if name == main else "")
        delta = row.get("delta")
        if delta is not None:
            style = ""
            if name not in NEUTRAL_METRICS and abs(delta) > 1e-9:
                style = "green" if delta > 0 else "red"
            text.append(f" ({delta:+.3f})", style=style)
    return text


def verdict_text(report: dict[str, Any]) -> Text:
    verdict = report.get("verdict") or {}
    beats = bool(verdict.get("finetuned_beats_base"))
    from ft_tui.core.evaluate.bar import verdict_without_ship

    text = Text("✓ " if beats else "✗ ", style="bold green" if beats else "bold red")
    text.append(verdict_without_ship(verdict))   # the ship call has its own line above
    return text


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"

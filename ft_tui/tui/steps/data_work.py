"""The Data step's work away from the widgets: inspection and clean-up (run in thread
workers) and turning reports into rich renderables. Core imports happen inside the
functions so importing the app stays light (the tokenizer pulls in transformers)."""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Any, Callable

from rich.table import Table
from rich.text import Text

# Tokenizers already loaded in this process, by model name: re-inspecting is then quick.
_TOKENIZERS: dict[str, Any] = {}

# The sample browser shows the first examples only, so a huge file is not held in memory.
MAX_SAMPLES = 500

# What loading a tokenizer may raise for a model that cannot be used; the report is
# still shown, without token lengths, and the reason is given.
TOKENIZER_ERRORS = (OSError, ValueError, ImportError, RuntimeError, LookupError)


def inspect_in_two_passes(path: Path, model: str, max_length: int,
                          post: Callable[..., None], train_on: str = "all_assistant",
                          objective: str = "sft") -> None:
    """Report the structure at once, then again with token lengths once the model's
    tokenizer is loaded. ``post(**fields)`` sends a DataStep.Progress."""
    from functools import partial

    from ft_tui.core.data import inspect_path as inspect

    def progress(rows: int, seconds: float) -> None:   # big files: rows read so far
        if seconds >= 2:
            post(status=f"Reading… {rows:,} rows, {rows / seconds:,.0f} rows/s")

    inspect_path = partial(inspect, train_on=train_on, objective=objective, progress=progress)
    tokenizer = _TOKENIZERS.get(model)
    try:
        report = inspect_path(path, tokenizer=tokenizer, max_length=max_length)
    except (OSError, ValueError) as exc:  # missing, unreadable or a folder
        post(error=str(exc))
        return
    post(report=report.to_dict(), examples=first_examples(path),
         status=None if tokenizer is None else _done_line(report.to_dict()))
    if tokenizer is None:
        post(status=f"{_done_line(report.to_dict())} Loading the {model} tokenizer for token "
                    "lengths (the first time can take ~20 s)…")
        try:
            tokenizer = load_tokenizer_for(model)
        except TOKENIZER_ERRORS as exc:
            post(status=f"{_done_line(report.to_dict())} No token lengths: the tokenizer of "
                        f"{model} did not load ({type(exc).__name__}: {exc}).")
            return
        report = inspect_path(path, tokenizer=tokenizer, max_length=max_length)
        post(report=report.to_dict(), status=_done_line(report.to_dict()))
    post(lengths=report.token_lengths or [])


def fit_message(path: Path, objective: str) -> str:
    """Core's one message when the file is data for another method than ``objective``
    (a preference file for SFT, an SFT file for DPO), else ''."""
    from ft_tui.core.errors import SetupError
    from ft_tui.core.objectives import check_file_fits

    try:
        check_file_fits(path, objective)
    except SetupError as exc:
        return str(exc)
    return ""


def first_examples(path: Path, limit: int = MAX_SAMPLES) -> list:
    from ft_tui.core.data import Example, ExampleStream

    valid = (item for item in ExampleStream(path) if isinstance(item, Example))
    return list(islice(valid, limit))


def loaded_tokenizer(model: str):
    """The tokenizer an inspection already loaded for ``model``, or None (never loads)."""
    return _TOKENIZERS.get(model)


def load_tokenizer_for(model: str):
    from ft_tui.core.models.resolve import load_tokenizer, prepare_model

    folder = prepare_model(model, log=lambda _msg: None)
    tokenizer = _TOKENIZERS[model] = load_tokenizer(folder)
    return tokenizer


def _done_line(report: dict) -> str:
    n_err, n_warn = len(report.get("errors") or []), len(report.get("warnings") or [])
    fmt = report.get("format") or "unknown format"
    n = report.get("n_examples") or 0
    untrained = (report.get("tokens") or {}).get("n_untrained") or 0
    mark = "✓" if n and not n_err else "✗" if n_err else "!"
    if n and untrained >= n:
        mark = "✗"   # every answer is cut off at max_length: nothing would be trained
    cut = (f" {untrained} with no trained token after truncation to max_length "
           f"{report['tokens']['max_length']}." if untrained else "")
    return (f"{mark} {fmt}: {n} valid examples, {n_err} errors, {n_warn} warnings.{cut}")


def summary_table(report: dict) -> Table:
    table = Table(show_header=False, show_edge=False, pad_edge=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("file", str(report.get("path", "")))
    table.add_row("format", str(report.get("format") or "not recognised"))
    table.add_row("valid examples", str(report.get("n_examples", 0)))
    table.add_row("errors", str(len(report.get("errors") or [])))
    tokens = report.get("tokens") or {}
    if tokens.get("median") is not None:
        from ft_tui.core.data.report import longest

        table.add_row("tokens", f"median {tokens['median']}, p95 {tokens.get('p95')}, "
                                f"max {longest(tokens)}")
    labels = report.get("labels")
    if labels:
        table.add_row("labels", f"{len(labels)} distinct")
    task = report.get("task_type")
    if task:
        how = f"assumed: {task.get('reason')}" if task.get("assumed") else task.get("reason")
        table.add_row("task type", f"{task.get('name')} ({how}); ft-tui suggests at least "
                                   f"{task.get('minimum')}, {task.get('good')}+ is good")
    return table


def warnings_text(warnings: list[dict]) -> Text:
    if not warnings:
        return Text("\nNo warnings.")
    text = Text("\nWarnings\n", style="bold")
    for warning in warnings:
        text.append(f"! {warning.get('code', '')}: ", style="bold")
        text.append(f"{warning.get('message', '')}")
        lines = warning.get("lines") or []
        if lines:
            shown = ", ".join(_line_ref(x) for x in lines[:8])
            more = f" … (+{len(lines) - 8})" if len(lines) > 8 else ""
            text.append(f"  lines {shown}{more}", style="dim")
        text.append("\n")
    return text


def _line_ref(item: Any) -> str:
    if isinstance(item, (list, tuple)) and len(item) == 2:
        return f"{item[0]}↔{item[1]}"
    return str(item)


def token_stats_text(report: dict) -> Text:
    tokens = report.get("tokens") or {}
    if tokens.get("median") is None:
        return Text("Token lengths appear once the model's tokenizer is loaded.", style="dim")
    from ft_tui.core.data.report import longest

    parts = [f"{k} {longest(tokens) if k == 'max' else tokens[k]}"
             for k in ("min", "median", "p95", "max") if k in tokens]
    text = Text("Tokens per example: " + ", ".join(parts))
    over = tokens.get("n_too_long")
    if over:
        text.append(f"\n{over} examples are longer than max_length {tokens.get('max_length')} "
                    "and will be truncated.", style="bold")
    return text


def error_text(data_path: str, error: dict) -> Text:
    """An error row in full with its raw line; a multi-file set's ``name:line`` is looked
    up in its own file."""
    from ft_tui.core.data.containers import locate
    from ft_tui.core.paths import resolve_data_path

    path, line = resolve_data_path(data_path), error.get("line")
    if isinstance(line, str):
        path, line = locate(path, line) or (path, None)
    if not isinstance(line, int) or line < 1:
        return Text(f"{error.get('message', '')} (no single line)")
    return raw_line_text(path, line, error)


def raw_line_text(path: Path, line: int, error: dict | None = None) -> Text:
    """The error in full, then the file's physical line ``line`` (1-based) as it is; for a
    JSON array a few more lines, since an element spans several."""
    context = 5 if path.suffix.lower() == ".json" else 0
    try:
        with open(path, "rb") as handle:
            chunk = list(islice(handle, line - 1, line + context))
    except OSError as exc:
        return Text(f"Cannot read {path}: {exc}")
    if not chunk:
        return Text(f"Line {line} is past the end of the file.")
    text = Text()
    if error:
        text.append(f"{error.get('code', '')}: ", style="bold")
        text.append(f"{error.get('message', '')}\n")
    for offset, raw in enumerate(chunk):
        shown = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if len(shown) > 400:
            shown = shown[:400] + " …"
        style = "bold" if offset == 0 else "dim"
        text.append(f"{line + offset:>6} │ ", style="dim")
        text.append(shown + "\n", style=style)
    text.rstrip()
    return text


def run_action(action: str, path: Path, eval_fraction: float,
               seed: int) -> tuple[str, dict[str, str]]:
    """Write the cleaned or split files; returns what to tell the user and the new
    ``data.*`` paths to offer."""
    from ft_tui.core.data import write_cleaned

    if action in ("dedupe", "drop-invalid"):
        removed: dict[str, list[int]] = {}
        out = write_cleaned(path, dedupe=action == "dedupe", drop_invalid=action == "drop-invalid",
                            removed=removed)
        what = "duplicate" if action == "dedupe" else "invalid"
        lines = removed[what]
        shown = ", ".join(map(str, lines[:10])) + (" …" if len(lines) > 10 else "")
        detail = f"removed {len(lines)} {what} row(s)" + (f" (lines {shown} of {path.name})"
                                                         if lines else "")
        return f"{out} written from {path.name}: {detail}", {"train_path": str(out)}
    if action == "split":
        train, held_out = write_split(path, eval_fraction, seed)
        return (f"Split written: train {train}, eval {held_out}",
                {"train_path": str(train), "eval_path": str(held_out)})
    raise ValueError(f"unknown action {action!r}")


def write_split(path: Path, eval_fraction: float, seed: int) -> tuple[Path, Path]:
    from ft_tui.core.data import write_split as core_write_split

    # The split needs something to hold out even when the config says 0.
    return core_write_split(path, eval_fraction=eval_fraction or 0.1, seed=seed)

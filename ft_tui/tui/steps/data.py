"""Step 2, Data: check the training file before spending GPU time on it.

Inspection runs in a thread worker in two passes: first the structure (format, counts,
errors, warnings, labels), shown at once, then token lengths with the chosen model's
tokenizer, which can take ~20 s the first time for the default model. Clean-up actions
write new files beside the original and never touch it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Static, TabbedContent, TabPane

from ft_tui.core.paths import resolve_data_path
from ft_tui.tui.widgets.tab_keys import cycle_tab, tab_bindings
from ft_tui.tui.messages import ConfigChanged, StateChanged, StepCompleted, go_to_step
from ft_tui.tui.steps import data_work
from ft_tui.tui.state import WizardState
from ft_tui.tui.widgets.chat_view import ChatView
from ft_tui.tui.screens.file_picker import FilePicker
from ft_tui.tui.widgets.histogram import LabelBars, TokenHistogram
from ft_tui.tui.widgets.path_suggester import PathSuggester


RAW_LINE_HINT = "Select an error to see its line."


class DataStep(Container):
    HELP = """\
Point ft-tui at your training file. It detects the format (OpenAI chat, ShareGPT,
Alpaca, prompt/completion, or text with `###`), counts the examples and lists every
problem with its line number.

- **Errors** are rows that cannot be used. Select one to see the raw line.
- **Warnings** cover the whole set: duplicates, contradictions, personal data, class
  imbalance, too few examples, examples longer than `max_length`.
- **Lengths** shows tokens per example with the model's own tokenizer (loading it can
  take ~20 s the first time), and how the answers spread over labels.
- **Samples** shows each example as the conversation the model will be trained on:
  the turns the loss covers say "trained" (every assistant turn unless
  data.train_on = last_assistant; weight 0 turns are context), the rest "context".
- **Clean & split** writes new files beside yours: deduplicated, invalid rows dropped,
  or a train/eval split. Your file is never changed.

Quality beats quantity: a few hundred clean, consistent examples beat thousands of
noisy ones. Read a random sample by hand before training.

**Keys:** `Enter` in the path field inspects, `Esc` leaves it, `o` opens a file browser
(`Backspace` there goes to the parent folder), `<`/`>` previous / next tab, `[`/`]`
previous / next sample, `c` continues to Hardware.
"""

    DEFAULT_CSS = """
    DataStep #data-pick { height: auto; padding: 0 1; }
    DataStep #data-path { width: 1fr; }
    DataStep #data-pick Button { margin: 0 0 0 1; }
    DataStep #data-status { padding: 0 1; height: auto; }
    DataStep #data-fit { padding: 0 1; height: auto; display: none; }
    DataStep #data-tabs { height: 1fr; }
    DataStep TabPane { padding: 0 1; }
    DataStep #errors-table { height: 1fr; min-height: 5; }
    DataStep #raw-line { height: auto; max-height: 10; border: round $warning; padding: 0 1; }
    DataStep #sample-nav { height: auto; }
    DataStep #sample-pos { padding: 0 1; }
    """

    BINDINGS = [
        Binding("o", "browse", "Browse"),
        Binding("left_square_bracket", "sample(-1)", "Prev sample", show=False),
        Binding("right_square_bracket", "sample(1)", "Next sample", show=False),
        Binding("c", "continue", "Continue"),
        *tab_bindings(),
    ]

    class Progress(Message):
        """The inspection worker's news: a report, the examples, or a status line."""

        def __init__(self, generation: int, *, report: dict | None = None,
                     examples: list | None = None, lengths: list[int] | None = None,
                     status: str | None = None, error: str | None = None,
                     fit: str | None = None) -> None:
            super().__init__()
            self.generation = generation
            self.report = report
            self.examples = examples
            self.lengths = lengths
            self.status = status
            self.error = error
            self.fit = fit

    class ActionDone(Message):
        def __init__(self, generation: int, text: str, new_paths: dict[str, str] | None = None,
                     error: str | None = None) -> None:
            super().__init__()
            self.generation = generation
            self.text = text
            self.new_paths = new_paths or {}
            self.error = error

    def __init__(self, state: WizardState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.generation = 0
        self.report: dict | None = None
        self.examples: list = []
        self.sample_index = 0
        self.inspected: tuple | None = None  # (path, model, max_length, objective)
        self.fit_error: str | None = None  # the file is data for another method
        self.new_paths: dict[str, str] = {}
        self.action_source: str | None = None  # the file the last clean action wrote

    def compose(self) -> ComposeResult:
        with Horizontal(id="data-pick"):
            yield Input(self.state.cfg.data.train_path, id="data-path", compact=True,
                        placeholder="path to a .jsonl/.json/.csv/.txt file (→ completes)",
                        suggester=PathSuggester())
            yield Button("Inspect", id="inspect", compact=True)
            yield Button("Browse (o)", id="browse", compact=True)
            yield Button("Continue (c)", id="continue", variant="primary", compact=True)
        yield Static("Enter a path and press Enter.", id="data-status")
        yield Static(id="data-fit", classes="error")
        with TabbedContent(id="data-tabs"):
            with TabPane("Summary", id="tab-summary"):
                with VerticalScroll():
                    yield Static(id="summary")
                    yield Static(id="warnings")
            with TabPane("Errors", id="tab-errors"):
                with Vertical():
                    yield DataTable(id="errors-table", cursor_type="row", zebra_stripes=True)
                    yield Static(RAW_LINE_HINT, id="raw-line")
            with TabPane("Lengths & labels", id="tab-lengths"):
                with VerticalScroll():
                    yield Static(id="token-stats")
                    yield TokenHistogram(id="histogram")
                    yield Static("Labels", classes="section-title")
                    yield LabelBars(id="labels")
            with TabPane("Samples", id="tab-samples"):
                with VerticalScroll():
                    with Horizontal(id="sample-nav"):
                        yield Button("◀ Prev", id="prev", compact=True)
                        yield Button("Next ▶", id="next", compact=True)
                        yield Static(id="sample-pos")
                    yield ChatView(id="chat")
                    yield Static("As the trainer sees it", classes="section-title")
                    yield Static(id="sample-tokens")
            with TabPane("Clean & split", id="tab-actions"):
                with VerticalScroll():
                    yield Static("Each action writes new files beside the original, which is "
                                 "never changed.", classes="muted")
                    with Horizontal(classes="button-row"):
                        yield Button("Deduplicate", id="dedupe", compact=True)
                        yield Button("Drop invalid rows", id="drop-invalid", compact=True)
                        yield Button("Split train/eval", id="split", compact=True)
                    with Horizontal(classes="button-row"):
                        yield Button("Use the new file(s)", id="use-new", compact=True,
                                     disabled=True)
                    yield Static(id="action-log")

    def on_mount(self) -> None:
        table = self.query_one("#errors-table", DataTable)
        table.add_columns("line", "code", "message")

    def on_show_step(self) -> None:
        key = self._inspection_key(self.state.cfg.data.train_path)
        if key != self.inspected:
            self.query_one("#data-path", Input).value = self.state.cfg.data.train_path
            self.inspect(self.state.cfg.data.train_path)

    def on_config_changed(self, message: ConfigChanged) -> None:
        if message.forwarded and self.display and self.is_mounted:
            self.on_show_step()

    def _inspection_key(self, path: str) -> tuple[str, str, int]:
        cfg = self.state.cfg
        return (path, cfg.model.name, cfg.data.max_length, cfg.objective)

    # ----- choosing a file --------------------------------------------------------------
    @on(Input.Submitted, "#data-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.use_path(event.value.strip())

    def use_path(self, path: str) -> None:
        if not path:
            self._status("Enter the path of a training file.", "error")
            return
        if path != self.state.cfg.data.train_path:
            stale_eval = self.state.cfg.data.eval_path
            self.state.cfg = self.state.cfg.with_overrides({"data.train_path": path,
                                                            "data.eval_path": ""})
            self.post_message(ConfigChanged())
            if stale_eval:
                # A held-out file belongs to the training file it was split from.
                self.notify(f"data.eval_path {stale_eval} belonged to the previous training "
                            f"file and was cleared: the eval split now comes off {path} "
                            f"(set data.eval_path again in Configure if it fits this file).",
                            title="Eval file reset", severity="warning", timeout=12)
        self.query_one("#data-path", Input).value = path
        self.inspect(path)

    def action_browse(self) -> None:
        start = resolve_data_path(self.state.cfg.data.train_path).parent
        self.app.push_screen(FilePicker(start if start.is_dir() else Path(".")),
                             lambda chosen: chosen and self.use_path(chosen))

    # ----- inspection -------------------------------------------------------------------
    def inspect(self, path: str) -> None:
        self.generation += 1
        self.inspected = self._inspection_key(path)
        self.report, self.examples, self.sample_index = None, [], 0
        self.action_source = None
        self._clear_panels()
        resolved = resolve_data_path(path)
        if not resolved.is_file():
            self._status(f"✗ {path}: no such file. Check the path (→ completes it) or press o "
                         "to browse.", "error")
            return
        self._status(f"Inspecting {resolved} …")
        cfg = self.state.cfg
        self._inspect_worker(self.generation, resolved, cfg.model.name, cfg.data.max_length,
                             cfg.data.train_on)

    @work(thread=True, exclusive=True, exit_on_error=False, group="inspect",
          description="inspecting the data")
    def _inspect_worker(self, generation: int, path: Path, model: str, max_length: int,
                        train_on: str = "all_assistant") -> None:
        post = lambda **kw: self.post_message(self.Progress(generation, **kw))  # noqa: E731
        post(fit=data_work.fit_message(path, self.state.cfg.objective))
        data_work.inspect_in_two_passes(path, model, max_length, post, train_on=train_on,
                                        objective=self.state.cfg.objective)

    def _remember_token_stats(self, report: dict) -> None:
        """Kept in the wizard's file: after a relaunch the Hardware step still plans
        max_length from this data, not from a default that would undo it."""
        from ft_tui.core.wizard_file import token_stats_record

        if not report.get("tokens"):
            return
        try:
            record = token_stats_record(report["path"], self.state.cfg.model.name, report["tokens"])
        except (KeyError, OSError):   # a folder or glob: measured again when visited
            return
        if record != self.state.data_tokens:
            self.state.data_tokens = record
            self.post_message(StateChanged())

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        message.stop()
        if message.generation != self.generation:
            return  # an older inspection finished late
        if message.error:
            self._status(f"✗ {message.error}", "error")
        if message.fit is not None:
            self._show_fit(message.fit)
        if message.report is not None:
            self.report = message.report
            self._remember_token_stats(message.report)
            self._show_report(message.report)
            if not message.report.get("tokens"):
                self.query_one(TokenHistogram).show(None)
        if message.lengths is not None:
            self.query_one(TokenHistogram).show(message.lengths, self.state.cfg.data.max_length)
            self._show_sample()    # the tokenizer is loaded now: the tokens view can be drawn
        if message.examples is not None:
            self.examples = message.examples
            self.sample_index = 0
            self._show_sample()
        if message.status:
            self._status(message.status)

    def _clear_panels(self) -> None:
        """Empty every panel, so nothing of the previous file stays on screen while (or
        instead of) the new one is inspected."""
        self.new_paths = {}
        self._show_fit("")
        for panel in ("#summary", "#warnings", "#token-stats", "#action-log"):
            self.query_one(panel, Static).update("")
        self.query_one("#raw-line", Static).update(RAW_LINE_HINT)
        self.query_one("#errors-table", DataTable).clear()
        self.query_one(LabelBars).show(None)
        self.query_one(TokenHistogram).show(None)
        self.query_one("#use-new", Button).disabled = True
        tabs = self.query_one(TabbedContent)
        tabs.get_tab("tab-errors").label = "Errors"
        tabs.get_tab("tab-summary").label = "Summary"
        self._show_sample()

    def _show_fit(self, text: str) -> None:
        """The one message saying this file is data for another method ('' when it fits)."""
        self.fit_error = text or None
        fit = self.query_one("#data-fit", Static)
        fit.update(f"✗ {text}" if text else "")
        fit.display = bool(text)

    def _status(self, text: str, kind: str = "") -> None:
        status = self.query_one("#data-status", Static)
        status.update(text)
        status.set_class(kind == "error", "error")

    def _show_report(self, report: dict) -> None:
        errors, warnings = report.get("errors") or [], report.get("warnings") or []
        self.query_one("#summary", Static).update(data_work.summary_table(report))
        self.query_one("#warnings", Static).update(data_work.warnings_text(warnings))
        self.query_one("#token-stats", Static).update(data_work.token_stats_text(report))
        self.query_one(LabelBars).show(report.get("labels"))
        self.query_one("#raw-line", Static).update(RAW_LINE_HINT)
        table = self.query_one("#errors-table", DataTable)
        table.clear()
        for index, err in enumerate(errors):
            table.add_row(str(err.get("line", "?")), err.get("code", ""), err.get("message", ""),
                          key=str(index))
        tabs = self.query_one(TabbedContent)
        tabs.get_tab("tab-errors").label = f"Errors ({len(errors)})"
        tabs.get_tab("tab-summary").label = f"Summary ({len(warnings)} warnings)"

    @on(DataTable.RowHighlighted, "#errors-table")
    def _error_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.report is None or event.row_key.value is None:
            return
        err = self.report["errors"][int(event.row_key.value)]
        self.query_one("#raw-line", Static).update(data_work.error_text(self.report["path"], err))

    # ----- samples ----------------------------------------------------------------------
    def action_sample(self, delta: int) -> None:
        if self.examples:
            self.sample_index = (self.sample_index + delta) % len(self.examples)
            self._show_sample()

    def _show_sample(self) -> None:
        pos = self.query_one("#sample-pos", Static)
        if not self.examples:
            pos.update("No valid example.")
            self.query_one(ChatView).show(None)
            return
        example = self.examples[self.sample_index]
        pos.update(f"Example {self.sample_index + 1} of {len(self.examples)}"
                   f"{self._cap_note()} (line {getattr(example, 'line', '?')})")
        if getattr(example, "chosen", None) is not None or getattr(example, "label", None) is not None:
            self.query_one(ChatView).show_pair(example)
            return
        messages = getattr(example, "messages", None)
        trained = None
        if messages and getattr(example, "chosen", None) is None and getattr(example, "label", None) is None:
            from ft_tui.core.data.masks import targets

            trained = set(targets(messages, self.state.cfg.data.train_on))
        view = self._trainer_view(example)
        self.query_one(ChatView).show(messages, trained, view.cut_turns if view else None)

    def _cap_note(self) -> str:
        """The sample browser holds the first MAX_SAMPLES examples: say so when it is full."""
        from ft_tui.tui.steps.data_work import MAX_SAMPLES

        total = (self.report or {}).get("n_examples") or 0
        if len(self.examples) >= MAX_SAMPLES and total > len(self.examples):
            return f" (capped: the file has {total})"
        return ""

    def _trainer_view(self, example):
        """The tokens as the trainer sees them, once the model's tokenizer is loaded."""
        from ft_tui.tui.steps.data_work import loaded_tokenizer
        from ft_tui.tui.widgets.trainer_view import trainer_view

        out = self.query_one("#sample-tokens", Static)
        tokenizer = loaded_tokenizer(self.state.cfg.model.name)
        view = None if tokenizer is None else trainer_view(
            tokenizer, example, self.state.cfg.data.train_on, self.state.cfg.data.max_length)
        if view is None:
            out.update(Text("Shown once the model's tokenizer is loaded (SFT examples).",
                            style="dim"))
            return None
        head = Text(view.summary + "\n", style="bold")
        if view.injected_system:
            head.append("The chat template adds its own system prompt (dim, at the top): the "
                        "model is trained with it. Set data.system_prompt to choose it.\n",
                        style="yellow")
        head.append("green: trained · dim: context · struck: cut by max_length\n\n", style="dim")
        out.update(head + view.text)
        return view

    # ----- actions ----------------------------------------------------------------------
    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button.id
        if button == "inspect":
            self.use_path(self.query_one("#data-path", Input).value.strip())
        elif button == "browse":
            self.action_browse()
        elif button == "continue":
            self.action_continue()
        elif button == "prev":
            self.action_sample(-1)
        elif button == "next":
            self.action_sample(1)
        elif button == "use-new":
            self._use_new_files()
        elif button in ("dedupe", "drop-invalid", "split"):
            if self.report is None:
                self.notify("Inspect a file first.", severity="warning")
                return
            cfg = self.state.cfg
            # Actions chain: each works on the file the previous one wrote.
            source = self.action_source or resolve_data_path(self.report["path"])
            self._action_worker(self.generation, button, Path(source), cfg.data.eval_fraction,
                                cfg.training.seed)

    @work(thread=True, exclusive=True, exit_on_error=False, group="data-action",
          description="writing a cleaned file")
    def _action_worker(self, generation: int, action: str, path: Path, eval_fraction: float,
                       seed: int) -> None:
        try:
            text, paths = data_work.run_action(action, path, eval_fraction, seed)
        except (OSError, ValueError) as exc:
            self.post_message(self.ActionDone(generation, "", error=f"{action} failed: {exc}"))
            return
        self.post_message(self.ActionDone(generation, text, paths))

    @on(ActionDone)
    def _action_done(self, message: ActionDone) -> None:
        message.stop()
        log = self.query_one("#action-log", Static)
        if message.generation != self.generation:
            # Written from the file shown before: say so, but offer nothing for this one.
            self.notify(message.error or message.text, title="Written (previous file)")
            return
        if message.error:
            log.update(Text(f"✗ {message.error}", style="bold"))
            self.notify(message.error, severity="error")
            return
        self.new_paths = message.new_paths
        if "eval_path" not in message.new_paths and message.new_paths.get("train_path"):
            self.action_source = message.new_paths["train_path"]
        log.update(message.text)
        self.query_one("#use-new", Button).disabled = not message.new_paths
        self.notify(message.text, title="Written")

    def _use_new_files(self) -> None:
        overrides: dict[str, Any] = {f"data.{k}": v for k, v in self.new_paths.items()}
        if not overrides:
            return
        self.state.cfg = self.state.cfg.with_overrides(overrides)
        self.post_message(ConfigChanged())
        self.query_one("#data-path", Input).value = self.state.cfg.data.train_path
        self.notify("The run config now uses: " + ", ".join(self.new_paths.values()))
        self.inspect(self.state.cfg.data.train_path)

    def action_tab(self, delta: int) -> None:
        cycle_tab(self.query_one("#data-tabs", TabbedContent), delta)

    def action_continue(self) -> None:
        report = self.report
        if report is None or not report.get("n_examples"):
            self.notify("Inspect a file with at least one valid example first.",
                        severity="error")
            return
        if self.fit_error:
            self.notify(self.fit_error, title="Data for another method", severity="error",
                        timeout=12)
            return
        if report.get("errors"):
            self.notify(f"{len(report['errors'])} rows have errors and will be skipped; "
                        "'Drop invalid rows' writes a clean copy.", severity="warning")
        self.post_message(StepCompleted("data"))
        go_to_step(self, "hardware")

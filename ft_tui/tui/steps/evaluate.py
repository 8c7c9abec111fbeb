"""Step 6, Evaluate & Export: is the fine-tune better than prompting the base model, and
the files to take away.

Evaluation is the core's ``evaluate_run`` in a thread worker (it loads both models and
generates, so it reports progress through messages); its result is ``eval.json``, which
this view also reads directly, so a run evaluated with ``ft-tui eval`` shows up here too.
Each export action is one call into ``ft_tui.core.export.run`` and shows where it wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Input, ProgressBar, Static
from textual.worker import Worker, WorkerState

from ft_tui.core.run.rundir import RunDir
from ft_tui.tui.messages import StepCompleted
from ft_tui.tui.state import WizardState
from ft_tui.tui.widgets.eval_table import EvalTable, summary_text, verdict_text

# Short: with the bar, the count, tokens/s and the clock they fit one 80-column line.
PHASES = {"base": "base answering", "finetuned": "tuned answering",
          "judge": "judge grading", "general_base": "base general probes",
          "general_tuned": "tuned general probes"}
# export action -> its button
EXPORTS = {
    "adapter": "Adapter (a)", "merged": "Merged (m)", "config": "Config (c)",
    "script": "Script (s)", "gguf": "GGUF (g)",
}


EXPORT_KEYS = Binding.Group("Export", compact=True)


@dataclass
class EvalProgress(Message):
    """Posted from the evaluation thread."""

    done: int
    total: int
    phase: str
    tokens_per_s: float | None = None


class EvaluateStep(Container):
    HELP = """\
Compare the fine-tuned model with the base model prompted on the same held-out examples,
then export what you need.

- **Evaluate** (`e`) has both models answer every held-out example (greedy decoding) and
  scores the answers with the task's metrics (labels: macro-F1 and accuracy; JSON: field
  match; free text: ROUGE-L). Base answers are cached, so a second run is quicker. The
  result is saved as `eval.json` and `report.md` in the run directory.
- The first line is the call: **ship or don't ship**, and why. It is made against the
  best prompted score measured: this evaluation's base, or the Decide step's few-shot
  baseline when that one is higher. Below it, the comparisons it rests on and all the
  metrics; at 80x24 they scroll in three lines: `Shift+Tab` from the table, then `↑`/`↓`.
  If fine-tuning did not win, they say why it probably did not and what to try;
  prompting may simply be enough for this task.
- The **table** has one row per example: `↑`/`↓` move, and the two answers of the
  selected row show side by side below. `o` sorts by the next column, `O` reverses.
- **Exports** go to `export/` in the run directory: the adapter (`a`), a merged model that
  plain transformers loads (`m`), the reproducible config (`c`), a standalone TRL script
  with its data (`s`), and GGUF for llama.cpp/Ollama (`g`, or the exact command when the
  converter is not installed).
- **Chat** (`t`): type a prompt and see the base and the fine-tuned answer side by side,
  streamed, with the run's system prompt. Esc stops an answer, then closes.
- The evaluation also runs a **general-ability check** (40 probes and perplexity on a
  general text) and turns the verdict into ship / don't ship.
- The run directory field (Tab to it) picks another run.
"""

    DEFAULT_CSS = """
    EvaluateStep { padding: 0 1; }
    EvaluateStep #eval-run-row { height: 1; }
    EvaluateStep #eval-run-label { width: auto; margin-right: 1; }
    EvaluateStep #eval-run { width: 1fr; height: 1; border: none; padding: 0; }
    EvaluateStep #eval-buttons { height: 1; }
    EvaluateStep #eval-buttons Button { margin: 0 1 0 0; min-width: 0; width: auto; padding: 0; }
    EvaluateStep #eval-progress-row { height: 1; display: none; }
    EvaluateStep #eval-progress-row.-busy { display: block; }
    EvaluateStep #eval-progress { width: auto; margin-right: 1; }
    EvaluateStep #eval-progress Bar { width: 16; }
    EvaluateStep #eval-phase { width: 1fr; }
    EvaluateStep #eval-message { height: auto; max-height: 2; color: $text-muted; }
    EvaluateStep #eval-results { height: auto; }
    EvaluateStep #eval-verdict-box { height: auto; max-height: 8; }
    EvaluateStep #eval-verdict { height: auto; }
    EvaluateStep #eval-summary { height: auto; }
    EvaluateStep #eval-table { height: 1fr; min-height: 7; border: round $panel; }
    EvaluateStep #eval-detail { height: 6; }
    EvaluateStep #eval-detail Static { width: 1fr; height: 100%; border: round $panel;
        overflow-y: auto; }
    EvaluateStep #export-results { height: auto; max-height: 6; color: $text-muted; }
    """

    BINDINGS = [
        Binding("e", "evaluate", "Evaluate"),
        # One footer entry "amcsg Export" (at 80 columns seven entries would push ? Help
        # and q Quit off the footer); ? lists what each key exports.
        Binding("a", "export('adapter')", "Adapter", group=EXPORT_KEYS),
        Binding("m", "export('merged')", "Merged", group=EXPORT_KEYS),
        Binding("c", "export('config')", "Config", group=EXPORT_KEYS),
        Binding("s", "export('script')", "Script", group=EXPORT_KEYS),
        Binding("g", "export('gguf')", "GGUF", group=EXPORT_KEYS),
        Binding("t", "chat", "Chat"),
    ]

    def __init__(self, state: WizardState, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = state
        self.report: dict[str, Any] | None = None
        self.exported: dict[str, str] = {}
        self._evaluating = False
        self._exporting: str | None = None
        # Asked once per judge URL in this session: may its prompts and answers go there?
        self._judge_consent: dict[str, bool] = {}

    # ----- layout -----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # The buttons come first, so the focus starts on them and a typed key is a command.
        with Horizontal(id="eval-buttons"):
            yield Button("Evaluate (e)", id="evaluate", variant="primary", compact=True)
            for action, label in EXPORTS.items():
                yield Button(label, id=f"export-{action}", compact=True)
        with Horizontal(id="eval-run-row"):
            yield Static("Run directory:", id="eval-run-label")
            yield Input(self.state.run_dir or "", id="eval-run",
                        placeholder="the run to evaluate (train one in step 5)")
        with Horizontal(id="eval-progress-row"):
            yield ProgressBar(total=None, show_eta=False, id="eval-progress")
            yield Static("", id="eval-phase")
        yield Static("", id="eval-message", markup=False)
        with Vertical(id="eval-results"):
            yield Static("", id="eval-bar")   # ship or don't: always on screen
            # What the call rests on; Tab to it to read it all at 80x24
            with VerticalScroll(id="eval-verdict-box"):
                yield Static("", id="eval-verdict")
                yield Static("", id="eval-summary")
        yield EvalTable(id="eval-table")
        with Horizontal(id="eval-detail"):
            yield Static("", id="detail-base")
            yield Static("", id="detail-tuned")
        yield Static("", id="export-results", markup=False)

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)   # the clock moves while a stage is slow
        self.query_one("#eval-detail").display = False
        self.load_run(self.state.run_dir)

    def on_show_step(self) -> None:
        field = self.query_one("#eval-run", Input)
        if self.state.run_dir and self.state.run_dir != field.value and not self._evaluating:
            field.value = self.state.run_dir     # a new training run finished meanwhile
            self.load_run(self.state.run_dir)
        # Start on the table (or the Evaluate button), never the text field: keys are commands.
        if self.report is not None:
            self.query_one(EvalTable).focus()
        else:
            self.query_one("#evaluate", Button).focus()

    def action_chat(self) -> None:
        """Try the models: base and fine-tuned answers side by side (screens/chat.py)."""
        from ft_tui.tui.screens.chat import ChatScreen

        path = self.run_path
        if path is None:
            self.notify("Give a run directory first (train one in step 5).", severity="warning")
            return
        self.app.push_screen(ChatScreen(path))

    @property
    def run_path(self) -> Path | None:
        text = self.query_one("#eval-run", Input).value.strip()
        return Path(text) if text else None

    def _message(self, text: str) -> None:
        message = self.query_one("#eval-message", Static)
        message.update(text)
        message.display = bool(text)

    def _from_run(self, where: str) -> str:
        return _relative_to(where, self.run_path)

    def _show_exports(self, text: str) -> None:
        """What was exported where; no empty line kept for it at 80x24 before an export."""
        results = self.query_one("#export-results", Static)
        results.update(text)
        results.display = bool(text)

    def load_run(self, run_dir: str | None) -> None:
        """Show the run's eval.json if it has one, else say what to do."""
        self.report = None
        self.exported = {}
        self._show_exports("")
        if not run_dir:
            self._show_report(None)
            self._message("No training run yet: train one in step 5, or type a run directory above.")
            return
        run = RunDir(Path(run_dir))
        if run.eval_path.is_file():
            try:
                report = json.loads(run.eval_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                self._show_report(None)
                self._message(f"{run.eval_path} cannot be read ({exc}); press e to evaluate again.")
                return
            self._show_report(report)
            self._message("")   # the verdict says it all; the run is named in the field above
            return
        self._show_report(None)
        if not run.path.is_dir():
            self._message(f"{run.path}: no such run directory. Type the folder a training run "
                          "created (under runs/ by default), or train one in step 5.")
        elif not run.adapter_dir.is_dir():
            self._message(f"{run.path} has no trained adapter yet: finish training in step 5.")
        else:
            self._message(f"{run.path} is trained but not evaluated: press e to compare it with "
                          "the base model.")

    def _show_report(self, report: dict[str, Any] | None) -> None:
        self.report = report
        table = self.query_one(EvalTable)
        self.query_one("#eval-results").display = report is not None
        table.display = report is not None
        self.query_one("#eval-detail").display = report is not None
        if report is None:
            table.clear(columns=True)
            return
        self.query_one("#eval-summary", Static).update(summary_text(report))
        self._show_verdict(report)
        table.load(report)
        self._show_detail(table.example_at_cursor())

    def _show_verdict(self, report: dict[str, Any]) -> None:
        """First line: ship or don't, with its reason (core's shipping_call: the evaluation's
        call, overruled by a higher prompted baseline measured in Decide). Below it, the
        comparisons behind it: with that baseline, both numbers, then this evaluation's own
        comparison in grey."""
        bar, ship, reason = self._ship_call(report)
        mark = Text("✓ " if ship else "✗ ", style="bold green" if ship else "bold red")
        self.query_one("#eval-bar", Static).update(mark + Text(reason, style="bold"))
        if bar is not None and bar.where != "this evaluation":
            body = Text("✓ " if bar.beats else "✗ ", style="green" if bar.beats else "red")
            body.append(bar.text() + "\n")
            body.append(f"Against this evaluation's {bar_label(report)} base: ", style="dim")
            body.append(verdict_text(report))
        else:
            body = verdict_text(report)
        self.query_one("#eval-verdict", Static).update(body)

    def _run_data_path(self) -> str | None:
        path = self.run_path
        from ft_tui.core.config.settings import ConfigError

        try:
            return RunDir(path).load_config().data.train_path if path else None
        except (ConfigError, OSError):   # no readable config: compare without the data path
            return None

    def _show_detail(self, example: dict[str, Any] | None) -> None:
        base = self.query_one("#detail-base", Static)
        tuned = self.query_one("#detail-tuned", Static)
        if example is None:
            base.update("")
            tuned.update("")
            return
        from ft_tui.core.evaluate.metrics import METRIC_LABELS

        table = self.query_one(EvalTable)
        scores = example.get("scores") or {}
        metric = METRIC_LABELS.get(table.metric or "", table.metric)
        for widget, side, title in ((base, "base", "base"), (tuned, "finetuned", "fine-tuned")):
            score = scores.get(side, {}).get(table.metric) if table.metric else None
            widget.border_title = title + ("" if score is None else f" · {metric} {score:.2f}")
            widget.border_subtitle = f"line {example.get('line', '?')}"
            text = Text()
            text.append(str(example.get(side, "")) or "(empty answer)")
            text.append("\n\nwanted: ", style="bold")
            text.append(str(example.get("reference", "")))
            text.append("\nprompt: ", style="bold")
            text.append(str(example.get("prompt", "")))
            widget.update(text)

    @on(DataTable.RowHighlighted, "#eval-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(self.query_one(EvalTable).example_at_cursor())

    @on(Input.Submitted, "#eval-run")
    def _run_typed(self, event: Input.Submitted) -> None:
        self.load_run(event.value.strip() or None)
        self.query_one("#evaluate", Button).focus()

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or ""
        if button_id == "evaluate":
            self.action_evaluate()
        elif button_id.startswith("export-"):
            self.action_export(button_id.removeprefix("export-"))

    def _run_path_or_say(self) -> Path | None:
        """The run directory to work on, or None after saying how to get one."""
        path = self.run_path
        if path is None:
            self.notify("Give a run directory first (train one in step 5).", severity="warning")
        return path

    # ----- evaluation -------------------------------------------------------------------
    def action_evaluate(self) -> None:
        if self._evaluating:
            self.notify("The evaluation is already running.", severity="warning")
            return
        if self._is_training():
            self.notify("Training is still running; evaluate when it has finished.",
                        severity="warning")
            return
        path = self._run_path_or_say()
        if path is None:
            return
        url = self._judge_url(path)
        if url and url not in self._judge_consent:
            self._ask_about_judge(path, url)
            return
        self._begin_evaluation(path, self._judge_consent.get(url, False))

    def _judge_url(self, path: Path) -> str:
        """The LLM judge the run's config names ('' for none, or an unreadable config: the
        evaluation then says what is wrong)."""
        from ft_tui.core.config.settings import ConfigError

        try:
            return RunDir(path).load_config().eval.judge_url.strip()
        except (ConfigError, OSError):
            return ""

    def _ask_about_judge(self, path: Path, url: str) -> None:
        """The question `ft-tui eval` asks at its terminal, in a modal; the safe answer
        (don't send) is the default."""
        from ft_tui.core.evaluate.judge import consent_question
        from ft_tui.tui.screens.confirm import ConfirmModal

        def answered(yes: bool | None) -> None:
            self._judge_consent[url] = bool(yes)
            if not self._evaluating:
                self._begin_evaluation(path, bool(yes))

        self.app.push_screen(ConfirmModal(consent_question(url), yes="Send", no="Don't send"),
                             answered)

    def _begin_evaluation(self, path: Path, judge_consent: bool) -> None:
        self._evaluating = True
        self.query_one("#eval-progress-row").set_class(True, "-busy")
        self.query_one("#eval-progress", ProgressBar).update(total=None, progress=0)
        import time

        self._started = time.monotonic()
        self._phase_line = "loading the models"
        self.query_one("#eval-phase", Static).update("loading the models...")
        self._message(f"Evaluating {path}: both models answer every held-out example.")
        self._evaluate(path, judge_consent)

    def _is_training(self) -> bool:
        is_running = getattr(self.app, "training_is_running", None)   # the wizard app's
        return bool(is_running and is_running())

    @work(thread=True, exclusive=True, exit_on_error=False, group="evaluate",
          description="evaluation")
    def _evaluate(self, path: Path, judge_consent: bool = False) -> dict[str, Any]:
        from ft_tui.core.evaluate.judge import judge_from_config
        from ft_tui.core.evaluate.run import evaluate_run

        # Consented: the config's judge, as `ft-tui eval --judge` builds it; otherwise None,
        # and the report notes that nothing was sent.
        judge = (judge_from_config(RunDir(path).load_config().eval, consent=True)
                 if judge_consent else None)
        report = evaluate_run(path, general=True, judge=judge,
                              on_progress=lambda done, total, phase, tokens_per_s=None:
                              self.post_message(EvalProgress(done, total, phase, tokens_per_s)))
        return report.to_dict()

    def on_eval_progress(self, message: EvalProgress) -> None:
        message.stop()
        self.query_one("#eval-progress", ProgressBar).update(total=max(1, message.total),
                                                             progress=message.done)
        speed = f" · {message.tokens_per_s:,.0f} tok/s" if message.tokens_per_s else ""
        self._phase_line = (f"{PHASES.get(message.phase, message.phase)} "
                            f"{message.done}/{message.total}{speed}")
        self._tick()

    _started = 0.0
    _phase_line = ""

    def _tick(self) -> None:
        if not self._evaluating:
            return
        import time

        from ft_tui.tui.widgets.dashboard_text import format_duration

        self.query_one("#eval-phase", Static).update(
            f"{self._phase_line} · {format_duration(time.monotonic() - self._started)}")

    # ----- export -----------------------------------------------------------------------
    def action_export(self, what: str) -> None:
        if what not in EXPORTS:
            return
        if self._exporting:
            self.notify(f"Still exporting the {self._exporting}; one export at a time.",
                        severity="warning")
            return
        path = self._run_path_or_say()
        if path is None:
            return
        reason = self.dont_ship_reason()
        if reason and what != "config":
            from ft_tui.tui.screens.confirm import ConfirmModal

            def _answer(go_on: bool | None) -> None:
                if go_on:
                    self._start_export(path, what)

            self.app.push_screen(ConfirmModal(f"{reason} Export the {what} anyway?",
                                              yes="Export anyway", no="Cancel"), _answer)
            return
        self._start_export(path, what)

    def dont_ship_reason(self) -> str:
        """Why the evaluation says not to ship this model ('' when it does not say so)."""
        if not self.report:
            return ""
        _, ship, reason = self._ship_call(self.report)
        return "" if ship else reason

    def _ship_call(self, report: dict[str, Any]) -> tuple[Any, bool, str]:
        """(the prompted bar, ship?, why) for a report: the Decide step's baseline as the
        bar where it applies, then core's one ship rule. The first line and the export
        question both ask this."""
        from ft_tui.core.evaluate.bar import prompted_bar, shipping_call

        bar = prompted_bar(report, self.state.baseline, self._run_data_path())
        return (bar, *shipping_call(report.get("verdict") or {}, bar))

    def _start_export(self, path: Path, what: str) -> None:
        if self._exporting:
            return
        self._exporting = what
        self._message(f"Exporting the {what} of {path}...")
        self._export(path, what)

    @work(thread=True, exclusive=False, exit_on_error=False, group="export", description="export")
    def _export(self, path: Path, what: str) -> dict[str, str]:
        from ft_tui.core.export.run import export_run

        written = export_run(path, only=what)
        if what == "gguf":
            shown = {"GGUF": written["gguf"] or written["gguf_message"]}
            if written.get("modelfile"):
                shown["Ollama Modelfile"] = written["modelfile"]
            return shown
        label = {"merged": "merged model", "script": "standalone script"}.get(what, what)
        return {label: written[what]}

    # ----- worker results ---------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        group = event.worker.group
        if group not in ("evaluate", "export") or event.state not in (
                WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        event.stop()
        if group == "evaluate":
            self._evaluation_ended(event.worker)
        else:
            self._export_ended(event.worker)

    def _evaluation_ended(self, worker: Worker) -> None:
        self._evaluating = False
        self.query_one("#eval-progress-row").set_class(False, "-busy")
        if worker.state == WorkerState.SUCCESS and worker.result is not None:
            self._show_report(worker.result)
            judge_note = (worker.result.get("settings") or {}).get("judge_error")
            # one line at 80 columns: the run directory is named in the field above
            saved = "Saved eval.json and report.md in the run directory."
            self._message(f"LLM judge: {judge_note} ({saved})" if judge_note else saved)
            self.query_one(EvalTable).focus()
            self.post_message(StepCompleted("evaluate"))
            return
        self._message("Evaluation failed: " + _failure_text(worker))
        self.notify(_failure_text(worker), title="Evaluation failed", severity="error", timeout=15)

    def _export_ended(self, worker: Worker) -> None:
        what, self._exporting = self._exporting, None
        if worker.state == WorkerState.SUCCESS and worker.result:
            self.exported.update(worker.result)
            # Paths inside the run directory (named in the field above) are shown from it:
            # whole at 80 columns, not cut in the middle of a name.
            lines = [f"exported {name}: {self._from_run(where)}" if _written(where)
                     else f"✗ {name} NOT written: {where}" for name, where in self.exported.items()]
            self._show_exports("\n".join(lines))
            missing = {n: w for n, w in worker.result.items() if not _written(w)}
            if missing:
                self._message(f"Export of the {what} did not write "
                              + "; ".join(f"the {n}: {w}" for n, w in missing.items()))
            else:
                # one line at 80x24: the paths are listed in full at the bottom
                self._message(f"Exported the {what} into the run directory (listed below).")
            for name, where in worker.result.items():
                if _written(where):
                    self.notify(where, title=f"{name} written", timeout=8)
                else:
                    self.notify(where, title=f"{name} not written", severity="error", timeout=15)
            return
        self._message(f"Export of the {what} failed: {_failure_text(worker)}")
        self.notify(_failure_text(worker), title="Export failed", severity="error", timeout=15)


def _relative_to(where: str, folder: Path | None) -> str:
    if folder is None:
        return where
    try:
        return str(Path(where).resolve().relative_to(folder.resolve()))
    except (ValueError, OSError):
        return where


def _written(where: str) -> bool:
    """True only when the export result names a file or folder that is really there."""
    return bool(where) and Path(where).exists()


def bar_label(report: dict[str, Any]) -> str:
    shots = int((report.get("settings") or {}).get("few_shot") or 0)
    return f"{shots}-shot" if shots else "zero-shot"


def _failure_text(worker: Worker) -> str:
    """The core's errors are written for people; anything else gets its type named."""
    from ft_tui.core.run.artifacts import RunError

    error = worker.error
    if error is None:
        return "cancelled"
    if isinstance(error, RunError):
        return str(error)
    return f"{type(error).__name__}: {error}"

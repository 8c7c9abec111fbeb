"""Step 1, Decide: should you fine-tune at all?

Walks the decision tree from ``ft_tui.core.decide`` one yes/no question at a time, then
shows the verdict with the reasons drawn from the user's own answers, and the cost /
effort / latency table. The user may go on to fine-tune whatever the verdict; when the
verdict is not fine-tuning they are told why they might not.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Static

from ft_tui.core.decide import COMPARISON, QUESTIONS, Walk, approach_row, baseline_sentence, decide
from ft_tui.tui.messages import StateChanged, StepCompleted, go_to_step
from ft_tui.tui.state import WizardState
from ft_tui.tui.widgets.dashboard_text import format_duration


class MeasureClock:
    """Elapsed time and a remaining-time estimate for the baseline measurement: the rate
    is that of the answers computed in this phase (cached ones are instant)."""

    def __init__(self, max_new_tokens: int = 0) -> None:
        self.started = self.phase_started = 0.0
        self.phase = ""
        self.done = self.total = self.first_done = 0
        self.phases_left = 0
        # Tokens generated in this phase (added from the worker thread: an int, no widget).
        # Before the first answer of a phase ends, they are what moves, and each answer
        # can take at most max_new_tokens: that bounds the time left.
        self.max_new_tokens = max_new_tokens
        self.phase_tokens = 0

    def start(self, phases: int = 2) -> None:
        import time

        self.started = self.phase_started = time.monotonic()
        self.phase, self.done, self.total, self.first_done = "", 0, 0, 0
        self.phases_left = phases
        self.phase_tokens = 0

    def add_tokens(self, n: int) -> None:
        self.phase_tokens += n

    def progress(self, done: int, total: int, phase: str) -> None:
        import time

        if phase != self.phase:
            self.phase, self.phase_started, self.first_done = phase, time.monotonic(), done
            self.phases_left = max(0, self.phases_left - 1)
            self.phase_tokens = 0
        self.done, self.total = done, total

    def elapsed_text(self) -> str:
        import time

        return format_duration(time.monotonic() - self.started)

    def line(self) -> str:
        import time

        now = time.monotonic()
        if not self.phase:
            return f"Loading the base model … {self.elapsed_text()} elapsed"
        computed = self.done - self.first_done
        text = (f"{self.phase.replace('_', '-')}: example {self.done} of {self.total} · "
                f"{self.elapsed_text()} elapsed")
        answers_left = self.total - self.done + self.phases_left * self.total
        bound = None   # no answer runs past max_new_tokens: time left is at most this
        if self.phase_tokens and self.max_new_tokens:
            rate = self.phase_tokens / max(now - self.phase_started, 1e-6)
            budget = max(0, answers_left * self.max_new_tokens - self.phase_tokens)
            bound = budget / rate
        if computed > 0:
            # answers of a batch end together, so one early end overstates the rest
            per = (now - self.phase_started) / computed
            text += f" · about {format_duration(min(per * answers_left, bound or 1e12))} left"
        elif bound is not None:
            text += (f" · {self.phase_tokens} tokens ({rate:.0f}/s) · at most "
                     f"{format_duration(bound)} left")
        elif self.max_new_tokens:
            # no token yet: the model is still reading this batch's prompts (few-shot
            # prompts are long: tens of seconds on a CPU)
            text += " · reading the prompts…"
        else:
            text += " · estimating time left…"
        return text


class DecideStep(Container):
    HELP = """\
Answer a few yes/no questions about your problem. Each comes with a short note on why
it matters. The verdict says which approach fits and why, using your answers.

- **Prompting** or **few-shot examples** first: they cost minutes, not GPU hours, and
  they are the baseline any fine-tune has to beat.
- **RAG** when the model lacks facts: training does not store knowledge reliably.
- **Fine-tuning** (supervised, LoRA) for style, format and behaviour, given 100+ good
  examples; or to replace a large slow model with a fine-tuned small one.
- **DPO** when you can only rank answers rather than write them.

Whatever the verdict, you can go on to fine-tune; ft-tui will tell you what to watch.

**Measure it on my data** (`m`): the base model answers 20 held-out examples of your
data file, zero-shot and with 3 worked examples, scored like the final evaluation; the
score enters the verdict. `x` cancels. The answers are cached, so the evaluation after
training does not compute them again.

**Keys:** `y` yes, `n` no, `b` back one question, `r` start over, `c` continue to Data,
`m` measure the baseline, `x` cancel it.
"""

    DEFAULT_CSS = """
    DecideStep #decide-scroll { padding: 0 1; }
    DecideStep #path { height: auto; color: $text-muted; }
    DecideStep #question-box, DecideStep #verdict-box {
        height: auto;
        border: round $primary;
        padding: 0 1;
    }
    DecideStep #question-text, DecideStep #verdict-title { text-style: bold; }
    DecideStep #question-explain { color: $text-muted; margin: 1 0 0 0; }
    DecideStep #verdict-caution { color: $text-warning; margin: 1 0 0 0; }
    DecideStep #verdict-advice { margin: 1 0 0 0; }
    DecideStep #comparison { height: auto; margin: 1 0 0 0; }
    DecideStep #baseline-box { height: auto; border: round $secondary; padding: 0 1; }
    DecideStep #baseline-row { height: auto; }
    DecideStep #baseline-path { width: 1fr; }
    DecideStep #baseline-status { height: auto; }
    DecideStep #verdict-baseline { margin: 1 0 0 0; text-style: bold; }
    """

    @dataclass
    class BaselineProgress(Message):
        done: int
        total: int
        phase: str

    @dataclass
    class BaselineDone(Message):
        sentence: str = ""
        table: str = ""
        error: str = ""
        result: dict | None = None   # BaselineResult.to_dict() without the examples

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("b", "back", "Back"),
        Binding("r", "restart", "Start over", show=False),   # its button says (r); 80 columns
        Binding("c", "continue", "Continue"),
        Binding("m", "measure", "Measure baseline"),
        Binding("x", "cancel_baseline", "Cancel"),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer lists the keys that act now: y/n while a question is asked, c and r
        once there is a verdict, b when there is an answer to undo, x while measuring."""
        question = self.walk.question is not None
        shown = {"answer": question, "continue": not question, "restart": not question,
                 "back": bool(self.walk.answers), "cancel_baseline": self._measuring,
                 "measure": not self._measuring}
        return shown.get(action, True)

    def __init__(self, state: WizardState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        # The answers and the measured baseline of the last session come back.
        self.walk = decide({q: a for q, a in state.decide_answers})
        saved = state.baseline or {}
        self.baseline: str = saved.get("sentence", "")   # the measured sentence, if any
        self._cancel = threading.Event()
        self._measuring = False
        self._clock = MeasureClock()

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="decide-scroll"):
            yield Static("Should you fine-tune at all?", classes="step-title")
            yield Static(id="path")
            with Vertical(id="question-box"):
                yield Static(id="question-text")
                yield Static(id="question-explain")
                with Horizontal(classes="button-row"):
                    yield Button("Yes (y)", id="yes", variant="success", compact=True)
                    yield Button("No (n)", id="no", variant="error", compact=True)
                    yield Button("Back (b)", id="back", compact=True)
            with Vertical(id="verdict-box"):
                yield Static(id="verdict-title")
                yield Static(id="verdict-reasons")
                yield Static(id="verdict-advice")
                yield Static(id="verdict-caution")
                yield Static(id="verdict-baseline")
                with Horizontal(classes="button-row"):
                    yield Button("Continue to Data (c)", id="continue", variant="primary",
                                 compact=True)
                    yield Button("Back (b)", id="verdict-back", compact=True)
                    yield Button("Start over (r)", id="restart", compact=True)
            with Vertical(id="baseline-box"):
                yield Static("Measure it on my data: the prompted base model's score", classes="section-title")
                with Horizontal(id="baseline-row"):
                    yield Input(self.state.cfg.data.train_path, id="baseline-path",
                                placeholder="data file (JSONL/JSON/CSV)", compact=True)
                    yield Button("Measure (m)", id="measure", compact=True)
                    yield Button("Cancel (x)", id="cancel-baseline", compact=True, disabled=True)
                yield Static(id="baseline-status")
            yield Static("How the approaches compare", classes="section-title")
            yield Static(id="comparison")

    def on_mount(self) -> None:
        self._render_walk()
        saved = self.state.baseline or {}
        if saved.get("table"):
            self._baseline_status(f"{saved['table']}\n{saved.get('sentence', '')}\n(measured "
                                  f"earlier on {saved.get('data_path', '?')}; m measures again)")
        self.set_interval(1.0, self._tick)

    def on_show_step(self) -> None:
        target = "#yes" if self.walk.question is not None else "#continue"
        self.query_one(target, Button).focus()

    # ----- actions ----------------------------------------------------------------------
    def action_answer(self, yes: bool) -> None:
        if self.walk.question is None:
            return
        self.walk = self.walk.answer(yes)
        self._render_walk()
        self._bring_walk_into_view()

    def action_back(self) -> None:
        self.walk = self.walk.back()
        self._render_walk()
        self._bring_walk_into_view()

    def action_restart(self) -> None:
        self.walk = Walk()
        self._render_walk()
        self._bring_walk_into_view()

    def _bring_walk_into_view(self) -> None:
        """After the baseline panel was scrolled into view, the next question or the
        verdict is above the fold at 80x24: bring it back once it is laid out (scrolling
        up shows a box from its top; a box already on screen stays where it is)."""
        box = "#question-box" if self.walk.question is not None else "#verdict-box"

        def scroll() -> None:
            self.query_one("#decide-scroll", VerticalScroll).scroll_to_widget(
                self.query_one(box), animate=False)
        self.call_after_refresh(scroll)

    def action_continue(self) -> None:
        verdict = self.walk.verdict
        if verdict is None:
            self.app.bell()
            return
        if not verdict.fine_tune:
            self.notify(f"Going on against the verdict ({verdict.title}). {verdict.caution}",
                        title="Fine-tuning anyway", severity="warning", timeout=10)
        if verdict.id == "dpo" and self.state.cfg.objective == "sft":
            self._choose_preference_path()
        self.post_message(StepCompleted("decide"))
        go_to_step(self, "data")

    def _choose_preference_path(self) -> None:
        """The DPO verdict leads into Data with the preference path chosen: objective dpo
        and, until the user picks their own pairs, the bundled preference set."""
        from ft_tui.core.config.settings import DataConfig

        cfg = self.state.cfg
        overrides = {"objective": "dpo"}
        if cfg.data.train_path == DataConfig().train_path:
            overrides.update({"data.train_path": "sample_data/preference/train.jsonl",
                              "data.eval_path": "sample_data/preference/eval.jsonl"})
        self.state.cfg = cfg.with_overrides(overrides)
        self.notify("Preference tuning (DPO): the Data step now reads pairs of a chosen and a "
                    "rejected answer per prompt.", title="DPO", timeout=8)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        actions = {
            "yes": lambda: self.action_answer(True),
            "no": lambda: self.action_answer(False),
            "back": self.action_back,
            "verdict-back": self.action_back,
            "restart": self.action_restart,
            "continue": self.action_continue,
            "measure": self.action_measure,
            "cancel-baseline": self.action_cancel_baseline,
        }
        if event.button.id in actions:
            actions[event.button.id]()

    @on(Input.Submitted, "#baseline-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_measure()

    # ----- the measured baseline ----------------------------------------------------------
    def action_measure(self) -> None:
        if self._measuring:
            return
        from pathlib import Path

        from ft_tui.core.paths import resolve_data_path

        raw = self.query_one("#baseline-path", Input).value.strip()
        path = resolve_data_path(raw) if raw else None
        if path is None or not Path(path).is_file():
            self._baseline_status(f"✗ {raw or '(empty)'}: no such data file. Type the path of "
                                  "your JSONL/JSON/CSV file and press Enter.")
            return
        cfg = self.state.cfg.with_overrides({"data.train_path": str(path)})
        if str(path) != str(resolve_data_path(self.state.cfg.data.train_path)):
            cfg = cfg.with_overrides({"data.eval_path": ""})  # another file: split it
        self._cancel.clear()
        self._measuring = True
        self.query_one("#measure", Button).disabled = True
        self.query_one("#cancel-baseline", Button).disabled = False
        self._clock.start()
        self._clock.max_new_tokens = cfg.eval.max_new_tokens
        self.refresh_bindings()
        self._baseline_status(f"Loading the base model for {path.name} …")
        # At 80x24 the panel is below the verdict: bring it into view, or `m` seems to do nothing.
        self.query_one("#decide-scroll", VerticalScroll).scroll_to_widget(
            self.query_one("#baseline-box"), animate=False, top=True)
        self._baseline_worker(cfg)

    def action_cancel_baseline(self) -> None:
        if self._measuring:
            self._cancel.set()
            self._baseline_status("Cancelling after the current example …")

    @work(thread=True, exclusive=True, exit_on_error=False, group="baseline",
          description="measuring the prompted baseline")
    def _baseline_worker(self, cfg: Any) -> None:
        from ft_tui.core.evaluate.baseline import BaselineCancelled, measure_baseline
        from ft_tui.core.evaluate.metrics import METRIC_LABELS
        from ft_tui.core.run.artifacts import RunError

        try:
            result = measure_baseline(
                cfg, on_progress=lambda d, t, p: self.post_message(self.BaselineProgress(d, t, p)),
                should_stop=self._cancel.is_set, on_tokens=self._clock.add_tokens)
        except BaselineCancelled as exc:
            self.post_message(self.BaselineDone(error=f"Cancelled: {exc} (kept in the cache)."))
            return
        except (RunError, OSError, ValueError) as exc:
            self.post_message(self.BaselineDone(error=f"✗ {exc}"))
            return
        label = METRIC_LABELS.get(result.main_metric, result.main_metric)
        best, score = result.best
        table = "   ".join(f"{result.prompt_label(n)}: {s[result.main_metric]:.2f}"
                           for n, s in result.scores.items())
        kept = {k: v for k, v in result.to_dict().items() if k != "examples"}
        self.post_message(self.BaselineDone(
            baseline_sentence(label, score, result.prompt_label(best), result.n_examples),
            f"{label} on {result.n_examples} held-out examples:  {table}", result=kept))

    @on(BaselineProgress)
    def _baseline_progress(self, message: BaselineProgress) -> None:
        message.stop()
        self._clock.progress(message.done, message.total, message.phase)
        self._tick()

    def _tick(self) -> None:
        """The elapsed time moves every second, even while the model loads."""
        if self._measuring:
            self._baseline_status(self._clock.line() + ("  · cancelling after this example"
                                                        if self._cancel.is_set() else "  (x cancels)"))

    @on(BaselineDone)
    def _baseline_done(self, message: BaselineDone) -> None:
        message.stop()
        self._measuring = False
        self.refresh_bindings()
        self.query_one("#measure", Button).disabled = False
        self.query_one("#cancel-baseline", Button).disabled = True
        if message.error:
            self._baseline_status(message.error)
            return
        self.baseline = message.sentence
        self._baseline_status(f"{message.table}\n{message.sentence}\n"
                              f"(took {self._clock.elapsed_text()})")
        if message.result is not None:
            self.state.baseline = {**message.result, "sentence": message.sentence,
                                   "table": message.table}
            self.post_message(StateChanged())
        self._render_walk()

    def _baseline_status(self, text: str) -> None:
        self.query_one("#baseline-status", Static).update(Text(text))

    # ----- rendering --------------------------------------------------------------------
    def _render_walk(self) -> None:
        walk = self.walk
        answers = [[q, a] for q, a in walk.answers]
        if answers != self.state.decide_answers:
            self.state.decide_answers = answers
            self.post_message(StateChanged())
        path = Text("Your answers: ")
        for number, (qid, answer) in enumerate(walk.answers, start=1):
            if number > 1:
                path.append(" · ")
            path.append(f"{QUESTIONS[qid].short}? ")
            path.append("yes" if answer else "no", style="bold")
        self.query_one("#path", Static).update(path)
        self.query_one("#path").display = bool(walk.answers)

        question, verdict = walk.question, walk.verdict
        self.query_one("#question-box").display = question is not None
        self.query_one("#verdict-box").display = verdict is not None
        if question is not None:
            number = len(walk.answers) + 1
            self.query_one("#question-text", Static).update(f"Q{number}. {question.text}")
            self.query_one("#question-explain", Static).update(question.explanation)
            self.query_one("#back", Button).disabled = not walk.answers
        if verdict is not None:
            self.query_one("#verdict-title", Static).update(f"Verdict: {verdict.title}")
            reasons = Text("Why:")
            for reason in walk.reasons():
                reasons.append(f"\n  • {reason}")
            self.query_one("#verdict-reasons", Static).update(reasons)
            self.query_one("#verdict-advice", Static).update(f"Next: {verdict.advice}")
            caution = self.query_one("#verdict-caution", Static)
            caution.display = not verdict.fine_tune
            caution.update(f"Why you might not fine-tune: {verdict.caution}")
            measured = self.query_one("#verdict-baseline", Static)
            measured.display = bool(self.baseline)
            measured.update(Text(self.baseline))
            self.query_one("#continue", Button).label = (
                "Continue to Data (c)" if verdict.fine_tune else "Fine-tune anyway (c)")
        self.query_one("#comparison", Static).update(self._comparison_table())
        self.refresh_bindings()
        if self.display and self.app.focused is not None:
            self.on_show_step()  # keep the focus on the button that answers next

    def _comparison_table(self) -> Table:
        verdict = self.walk.verdict
        highlight = approach_row(verdict) if verdict is not None else None
        table = Table(expand=True, show_edge=False, pad_edge=False)
        table.add_column("Approach", ratio=2)
        table.add_column("Best when", ratio=3)
        table.add_column("Cost", no_wrap=True)
        table.add_column("Effort", no_wrap=True)
        table.add_column("Latency", ratio=2)
        for index, row in enumerate(COMPARISON):
            mark = "▶ " if index == highlight else "  "
            table.add_row(mark + row.name, row.best_when, row.cost, row.effort, row.latency,
                          style="bold reverse" if index == highlight else None)
        return table

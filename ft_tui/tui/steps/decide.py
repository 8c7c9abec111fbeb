"""Step 1, Decide: should you fine-tune at all?

Walks the decision tree from ``ft_tui.core.decide`` one yes/no question at a time, then
shows the verdict with the reasons drawn from the user's own answers, and the cost /
effort / latency table. The user may go on to fine-tune whatever the verdict; when the
verdict is not fine-tuning they are told why they might not.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Static

from ft_tui.core.decide import COMPARISON, QUESTIONS, Walk, approach_row
from ft_tui.tui.messages import GoToStep, StepCompleted
from ft_tui.tui.state import WizardState


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

**Keys:** `y` yes, `n` no, `b` back one question, `r` start over, `c` continue to Data.
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
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("b", "back", "Back"),
        Binding("r", "restart", "Start over", show=False),
        Binding("c", "continue", "Continue", show=False),
    ]

    def __init__(self, state: WizardState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.walk = Walk()

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
                with Horizontal(classes="button-row"):
                    yield Button("Continue to Data (c)", id="continue", variant="primary",
                                 compact=True)
                    yield Button("Back (b)", id="verdict-back", compact=True)
                    yield Button("Start over (r)", id="restart", compact=True)
            yield Static("How the approaches compare", classes="section-title")
            yield Static(id="comparison")

    def on_mount(self) -> None:
        self._render_walk()

    def on_show_step(self) -> None:
        target = "#yes" if self.walk.question is not None else "#continue"
        self.query_one(target, Button).focus()

    # ----- actions ----------------------------------------------------------------------
    def action_answer(self, yes: bool) -> None:
        if self.walk.question is None:
            return
        self.walk = self.walk.answer(yes)
        self._render_walk()

    def action_back(self) -> None:
        self.walk = self.walk.back()
        self._render_walk()

    def action_restart(self) -> None:
        self.walk = Walk()
        self._render_walk()

    def action_continue(self) -> None:
        verdict = self.walk.verdict
        if verdict is None:
            self.app.bell()
            return
        if not verdict.fine_tune:
            self.notify(f"Going on against the verdict ({verdict.title}). {verdict.caution}",
                        title="Fine-tuning anyway", severity="warning", timeout=10)
        self.post_message(StepCompleted("decide"))
        self.post_message(GoToStep("data"))

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
        }
        if event.button.id in actions:
            actions[event.button.id]()

    # ----- rendering --------------------------------------------------------------------
    def _render_walk(self) -> None:
        walk = self.walk
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
            self.query_one("#continue", Button).label = (
                "Continue to Data (c)" if verdict.fine_tune else "Fine-tune anyway (c)")
        self.query_one("#comparison", Static).update(self._comparison_table())
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

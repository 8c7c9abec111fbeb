"""What the training dashboard shows, folded from trainer events without any widget.

:class:`DashboardState` takes the typed events of ``ft_tui.core.run.events`` one at a time
(:meth:`DashboardState.fold`) and keeps everything the dashboard draws: the metric point
lists, the last step log, phase, start and end, warnings, the latest sample generations,
the log lines (bounded like the log pane) and the DPO/KTO signal series. It is plain
Python: a thread can fold a 20,000-event history in a fraction of a second, and the
app thread then renders the result once (``Dashboard.load``) instead of touching its
widgets per event. Live events are folded the same way and the widget redraws from the
state on a timer. Version counters tell the renderer which parts changed.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable

from ft_tui.core.run.events import (Checkpoint, EvalLog, Event, Phase, PreferenceLog, RunFinished,
                                    RunStarted, Samples, StepLog, TrainWarning)

MAX_LOG_LINES = 2000        # what the log pane keeps (its RichLog's max_lines)
PREFERENCE_SIGNALS = ("margin", "accuracy", "chosen", "rejected")


def format_number(value: float | None, spec: str = ".4g") -> str:
    return "–" if value is None else format(value, spec)


class DashboardState:
    """Everything the dashboard shows, as plain data (no Textual)."""

    def __init__(self, max_log_lines: int = MAX_LOG_LINES) -> None:
        self.train_points: list[tuple[int, float]] = []
        self.eval_points: list[tuple[int, float]] = []
        self.lr_points: list[tuple[int, float]] = []
        self.warnings: list[TrainWarning] = []
        self.started: RunStarted | None = None
        self.last_log: StepLog | None = None
        self.finished: RunFinished | None = None
        self.phase: Phase | None = None
        self.samples: Samples | None = None
        self.total_steps = 0
        self.step = 0
        self.log_lines: deque[str] = deque(maxlen=max_log_lines)
        self.log_count = 0           # lines ever logged (the deque keeps the last ones)
        self.banner: tuple[str, str] | None = None      # (text, "-warning" | "-error" | "-done")
        self.interrupted = False     # its process is gone without an end event (told by the reader)
        self.preference_history: dict[str, dict[str, list[float]]] = {}
        self.preference_last: dict[str, PreferenceLog] = {}
        self.events = 0              # events folded
        # Bumped when that part changes, so a renderer redraws only what it must.
        self.points_version = 0
        self.samples_version = 0
        self.preference_version = 0

    def clear(self) -> None:
        """Forget everything (a metrics file that was rewritten while it was being read)."""
        self.__init__(self.log_lines.maxlen or MAX_LOG_LINES)

    # ----- folding ----------------------------------------------------------------------
    def fold_all(self, events: Iterable[Event]) -> DashboardState:
        for event in events:
            self.fold(event)
        return self

    def fold(self, event: Event) -> None:
        self.events += 1
        if isinstance(event, StepLog):
            self._on_step(event)
        elif isinstance(event, Phase):
            self.phase = event
        elif isinstance(event, EvalLog):
            self.eval_points.append((event.step, event.eval_loss))
            self.points_version += 1
            self.log(f"step {event.step}: eval loss {format_number(event.eval_loss)}")
        elif isinstance(event, PreferenceLog):
            self._on_preference(event)
        elif isinstance(event, RunStarted):
            self._on_started(event)
        elif isinstance(event, Samples):
            self.samples = event
            self.samples_version += 1
            self.log(f"step {event.step}: {len(event.samples)} sample generations")
        elif isinstance(event, TrainWarning):
            self._on_warning(event)
        elif isinstance(event, Checkpoint):
            self.log(f"step {event.step}: checkpoint saved to {event.path}")
        elif isinstance(event, RunFinished):
            self._on_finished(event)
        else:
            self.events -= 1     # an event type this dashboard does not show

    def log(self, line: str) -> None:
        self.log_lines.append(line)
        self.log_count += 1

    def _on_started(self, event: RunStarted) -> None:
        self.started = event
        self.finished = None
        self.banner = None
        self.phase = None            # the phase before a resume is not this run's
        self.interrupted = False
        if event.start_step:
            # A resumed run repeats the steps after its checkpoint: drop the old copies.
            for points in (self.train_points, self.eval_points, self.lr_points):
                points[:] = [p for p in points if p[0] <= event.start_step]
        self.points_version += 1
        self.total_steps = event.total_steps
        self.step = event.start_step
        what = "resumed at step " + str(event.start_step) if event.start_step else "started"
        params = ""
        if event.total_params:
            share = 100 * event.trainable_params / event.total_params
            params = (f", {event.trainable_params:,} of {event.total_params:,} parameters "
                      f"trained ({share:.2g}%)")
        self.log(f"run {what}: {event.method or '?'} on {event.device or '?'}, "
                 f"{event.total_steps} steps{params}")

    def _on_step(self, event: StepLog) -> None:
        self.last_log = event
        self.step = event.step
        if event.total_steps:
            self.total_steps = event.total_steps
        self.train_points.append((event.step, event.loss))
        if event.learning_rate is not None:
            self.lr_points.append((event.step, event.learning_rate))
        self.points_version += 1
        self.log(f"step {event.step}/{self.total_steps or '?'}: loss {format_number(event.loss)}")

    def _on_preference(self, event: PreferenceLog) -> None:
        series = self.preference_history.setdefault(
            event.split, {name: [] for name in PREFERENCE_SIGNALS})
        for name in PREFERENCE_SIGNALS:
            value = getattr(event, name)
            if value is not None:
                series[name].append(value)
        self.preference_last[event.split] = event
        self.preference_version += 1

    def _on_warning(self, event: TrainWarning) -> None:
        self.warnings.append(event)
        line = f"⚠ step {event.step}: {event.code}: {event.message}"
        self.log(line)
        more = (f"  (+{len(self.warnings) - 1} earlier, see the log)"
                if len(self.warnings) > 1 else "")
        self.banner = (line + more, "-warning")

    def _on_finished(self, event: RunFinished) -> None:
        self.finished = event
        self.step = event.step or self.step
        mark = {"done": "✓", "stopped": "■", "failed": "✗"}.get(event.state, "·")
        where = "" if "step" in event.message else f" at step {self.step}"
        line = f"{mark} run {event.state}{where}: {event.message}"
        if event.advice:
            line += f"\n  advice: {event.advice}"
        self.log(line)
        banner = line
        if self.warnings:   # the end replaces the warning banner: keep the warnings in sight
            last = self.warnings[-1]
            more = f" (+{len(self.warnings) - 1} more)" if len(self.warnings) > 1 else ""
            banner += f"\n⚠ step {last.step}: {last.code}{more}, see the log"
        self.banner = (banner, {"done": "-done", "failed": "-error"}.get(event.state, "-warning"))

    # ----- reading ----------------------------------------------------------------------
    @property
    def phase_text(self) -> str:
        """training / evaluating 12/32 / generating samples / saving (empty before a run)."""
        if self.finished is not None or self.started is None:
            return ""
        if self.interrupted:
            return f"interrupted at step {self.step}"
        return self.phase.describe() if self.phase is not None else "training"

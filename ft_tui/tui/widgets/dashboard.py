"""The training dashboard: one widget for the wizard's Train step and `ft-tui monitor`.

Both feed it the same typed events (ft_tui.core.run.events): live through
:meth:`Dashboard.handle_event`, from the trainer's thread wrapped in a :class:`TrainingEvent`
message (so no widget is touched off the app thread) or from the monitor's poll; a run's
whole history through :meth:`Dashboard.replay`, which folds ``metrics.jsonl`` into a
:class:`DashboardState` on a worker thread and renders it once. Events only change the
state (every metric point is kept, so the curves never lose a step); the widgets are
brought up to it at most twice a second, so a fast run costs the app thread a few renders
a second however many events it sends. A start, a warning and the end are shown at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import islice
from time import monotonic, perf_counter, time
from typing import Any, Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import ProgressBar, RichLog, Static
from textual_plotext import PlotextPlot

from ft_tui.core.run.events import Event, RunFinished, RunStarted, StepLog, TrainWarning
from ft_tui.core.training.throughput import throughput_note
from ft_tui.tui.widgets.dashboard_state import MAX_LOG_LINES, DashboardState, format_number
from ft_tui.tui.widgets.dashboard_text import (MAX_PLOTTED_POINTS, _thin, format_duration,  # noqa: F401
                                               gpu_total_gb, memory_gauge, samples_text)
from ft_tui.tui.widgets.preference_panel import PreferencePanel

REDRAW_EVERY_S = 0.5        # the widgets follow the state at most this often
# and the plots this often: plotext's drawing is the costly part, and each redraw sends the
# whole plot area to the terminal (at 2 s the wizard wrote 2.8 KB/s at 80x24 while training,
# too much for a slow SSH link: tests/bench/terminal_bytes.py, RESULTS.md)
PLOT_EVERY_S = 5.0
BULK_LOG_LINES = 200        # more new log lines than this are written to the pane at once
TICK_EVERY_S = 1.0          # elapsed and ETA move on between step logs
# The panes `z` shows full screen in turn; at 80x24 (more so with the DPO panel) some are
# below the fold otherwise.
ZOOM_ORDER = ("#loss-plot", "#lr-plot", "#dash-preference", "#dash-log", "#dash-samples-box")
# Re-exported above for callers and tests: MAX_PLOTTED_POINTS, _thin, format_duration.
# textual-plotext's first two series colours, given explicitly: a plot drawn before the
# widget's first paint (a replayed history) would otherwise get plotext's default ones.
FIRST_COLOR, SECOND_COLOR = (0, 130, 200), (60, 180, 75)


@dataclass
class TrainingEvent(Message):
    """One trainer event, posted from the training thread (``post_message`` is thread-safe)."""

    event: Event


class Dashboard(Vertical):
    """Loss/eval-loss and learning-rate plots, progress with ETA, throughput, a memory
    gauge, a log pane, the latest sample generations, and a warning banner."""

    DEFAULT_CSS = """
    Dashboard { height: 1fr; }
    Dashboard #dash-banner { display: none; height: auto; max-height: 4; padding: 0 1; }
    Dashboard #dash-banner.-shown { display: block; }
    Dashboard #dash-banner.-warning { background: $warning 25%; color: $text; }
    Dashboard #dash-banner.-error { background: $error 30%; color: $text; }
    Dashboard #dash-banner.-done { background: $success 25%; color: $text; }
    Dashboard #dash-progress-row { height: 1; }
    Dashboard #dash-progress { width: auto; margin-right: 1; }
    Dashboard #dash-progress Bar { width: 16; }   /* the clocks keep their room at 80 columns */
    Dashboard #dash-step { width: auto; margin-right: 2; }
    Dashboard #dash-eta { width: 1fr; }
    Dashboard #dash-stats { height: auto; max-height: 2; }   /* wraps, never cut */
    Dashboard #dash-plots { height: 2fr; min-height: 8; }
    Dashboard #loss-plot { width: 2fr; }
    Dashboard #lr-plot { width: 1fr; }
    Dashboard #dash-panes { height: 1fr; min-height: 5; max-height: 14; }
    Dashboard #dash-log { width: 1fr; border: round $panel; }
    Dashboard #dash-samples-box { width: 1fr; border: round $panel; }
    Dashboard .-maximized { width: 100% !important; height: 100% !important;
                            max-height: 100% !important; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.state = DashboardState()
        self.renders = 0              # widget refreshes from the state (tests count them)
        self._gpu_total: float | None = None
        self._gpu_total_known = False
        self._live_at: float | None = None   # when the last live StepLog arrived (monotonic)
        self._before_first_step = False      # a live run started and has logged no step yet
        self._frozen_since = 0.0      # the clocks' advance when the run ended
        self._last_render = -math.inf  # perf_counter of the last render (rate limit)
        self._render_call_pending = False
        self._render_timer: Timer | None = None
        self._last_plot = -math.inf    # perf_counter of the last plot drawing
        self._plot_timer: Timer | None = None
        self._plot_now = False         # a start or an end: draw the plots with the rest
        self._generation = 0          # bumped by reset(): a replay begun before is stale
        self._replaying = False
        self._pending: list[Event] = []   # live events that came during a replay
        self._forget_shown()

    # ----- the state, read-only for callers -----------------------------------------------
    train_points = property(lambda self: self.state.train_points)
    eval_points = property(lambda self: self.state.eval_points)
    lr_points = property(lambda self: self.state.lr_points)
    warnings = property(lambda self: self.state.warnings)
    started = property(lambda self: self.state.started)
    last_log = property(lambda self: self.state.last_log)
    finished = property(lambda self: self.state.finished)
    phase = property(lambda self: self.state.phase)
    total_steps = property(lambda self: self.state.total_steps)
    step = property(lambda self: self.state.step)
    phase_text = property(lambda self: self.state.phase_text,
                          doc="training / evaluating 12/32 / generating samples / saving")

    @property
    def replaying(self) -> bool:
        """True while a run's history is being read on a worker thread."""
        return self._replaying

    @property
    def banner_text(self) -> str:
        return self.state.banner[0] if self.state.banner else ""

    # ----- layout -----------------------------------------------------------------------
    # ----- layout -----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="dash-banner", markup=False)
        with Horizontal(id="dash-progress-row"):
            yield Static("step –", id="dash-step")
            # total=1 until the run says how many steps: a still 0 %, not a busy animation
            yield ProgressBar(total=1, show_eta=False, id="dash-progress")
            yield Static("", id="dash-eta")
        yield Static("waiting for the first step", id="dash-stats", markup=False)
        yield PreferencePanel(id="dash-preference")
        with Horizontal(id="dash-plots"):
            yield PlotextPlot(id="loss-plot")
            yield PlotextPlot(id="lr-plot")
        with Horizontal(id="dash-panes"):
            log = RichLog(id="dash-log", max_lines=MAX_LOG_LINES, wrap=True, markup=False, min_width=20)
            log.border_title = "log"
            yield log
            box = VerticalScroll(id="dash-samples-box")
            box.border_title = "sample generations"
            with box:
                yield Static("no samples yet", id="dash-samples", markup=False)

    def on_mount(self) -> None:
        self._draw_plots()
        self.set_interval(TICK_EVERY_S, self._tick, name="dashboard clock")

    # ----- events -----------------------------------------------------------------------
    def zoom_next(self) -> str | None:
        """Show the next pane full screen (plots, DPO signals, log, samples), then none again;
        returns the pane's id, or None when back to the whole dashboard."""
        panes = [w for w in (self.query_one(sel) for sel in ZOOM_ORDER) if w.display]
        current = self.screen.maximized
        at = panes.index(current) + 1 if current in panes else 0
        # Set directly: plots cannot take the focus, so Screen.maximize() would refuse them.
        self.screen.maximized = panes[at] if at < len(panes) else None
        return self.screen.maximized.id if self.screen.maximized is not None else None

    def unzoom(self) -> bool:
        """Back to the whole dashboard; False when nothing was zoomed."""
        if self.screen.maximized is None:
            return False
        self.screen.minimize()
        return True

    def reset(self) -> None:
        """Forget everything shown (a new run, or a metrics file that was rewritten)."""
        self.state = DashboardState()
        self._generation += 1
        self._replaying = False
        self._pending.clear()
        self._live_at, self._frozen_since = None, 0.0
        self._before_first_step = False
        self._forget_shown()
        self._show_state()

    def handle_event(self, event: Event, *, notify: bool = True) -> None:
        """Take in one event; the widgets follow on the redraw timer (at most
        1/REDRAW_EVERY_S times a second, however many events came). ``notify=False``
        (replaying history) skips the toasts."""
        if isinstance(event, StepLog):
            self._live_at, self._frozen_since = (monotonic() if notify else None), 0.0
            self._before_first_step = False
        elif isinstance(event, RunStarted):
            self._before_first_step = notify     # a live run: elapsed ticks from its start
        elif isinstance(event, RunFinished):
            self._before_first_step = False
            if self._live_at is not None:
                self._frozen_since, self._live_at = monotonic() - self._live_at, None
        self.state.fold(event)
        if self._replaying:
            self._pending.append(event)   # folded again on top of the history when it comes
        if notify and isinstance(event, TrainWarning):
            self.notify(event.message, title=f"warning: {event.code}", severity="warning",
                        timeout=10)
        elif notify and isinstance(event, RunFinished):
            self.notify(event.message or event.state, title=f"training {event.state}",
                        severity="error" if event.state == "failed" else "information",
                        timeout=10)
        # A start, a warning and the end are shown at once; the stream of steps is not.
        urgent = isinstance(event, (RunStarted, TrainWarning, RunFinished))
        self._plot_now = self._plot_now or isinstance(event, (RunStarted, RunFinished))
        self._request_render(urgent=urgent)

    # ----- replaying a run's history off the app thread -----------------------------------
    @dataclass
    class Replayed(Message):
        """A history folded on a worker thread (``extra``: what ``read`` returned)."""

        dashboard: Dashboard
        state: DashboardState
        generation: int
        extra: Any = None
        error: BaseException | None = None

    def replay(self, read: Callable[[DashboardState], Any]) -> None:
        """Show a run's history: ``read(state)`` folds it into a new state on a worker
        thread (reading metrics.jsonl, decoding), then the app thread renders it once.
        Live events that come meanwhile are kept and shown on top of it. The Replayed
        message bubbles up to the dashboard's parents once it is shown."""
        self.reset()
        self._replaying = True
        self.query_one("#dash-stats", Static).update("reading the run's history…")
        self._read_history(read, self._generation)

    @work(thread=True, exit_on_error=False, group="dashboard-replay",
          description="reading the run's history")
    def _read_history(self, read: Callable[[DashboardState], Any], generation: int) -> None:
        state = DashboardState()
        try:
            extra = read(state)
        except Exception as exc:   # shown as far as it got, and the caller is told
            self.post_message(self.Replayed(self, state, generation, error=exc))
            return
        self.post_message(self.Replayed(self, state, generation, extra))

    def on_dashboard_replayed(self, message: Replayed) -> None:
        if message.generation != self._generation:
            message.stop()        # a reset (new run, rewritten file) came after it began
            return
        self.load(message.state)

    def load(self, state: DashboardState) -> None:
        """Show ``state`` (folded elsewhere) with one render, plus any pending live events."""
        for event in self._pending:
            state.fold(event)
        self._pending.clear()
        self._replaying = False
        self.state = state
        self._forget_shown()
        self._show_state()

    # ----- rendering from the state -------------------------------------------------------
    def _request_render(self, urgent: bool = False) -> None:
        if self._render_call_pending or self._replaying:
            return   # (a replay renders once, when the history is read)
        wait = 0.0 if urgent else self._last_render + REDRAW_EVERY_S - perf_counter()
        if wait <= 0:
            if self._render_timer is not None:
                self._render_timer.stop()
                self._render_timer = None
            self._render_call_pending = True
            self.call_later(self._show_state)
        elif self._render_timer is None:
            self._render_timer = self.set_timer(wait, self._show_state, name="dashboard redraw")

    def _forget_shown(self) -> None:
        """Make the next render draw every part (after the state was swapped)."""
        self._shown: dict[str, Any] = {}

    def _changed(self, part: str, value: Any) -> bool:
        if part in self._shown and self._shown[part] == value:
            return False
        self._shown[part] = value
        return True

    def _show_state(self) -> None:
        """Bring every widget up to the state; parts that did not change are left alone."""
        self._render_call_pending = False
        if self._render_timer is not None:
            self._render_timer.stop()
            self._render_timer = None
        self._last_render = perf_counter()
        self.renders += 1
        state = self.state
        if self._changed("banner", state.banner):
            banner = self.query_one("#dash-banner", Static)
            banner.update(state.banner[0] if state.banner else "")
            banner.set_classes(f"-shown {state.banner[1]}" if state.banner else "")
        if self._changed("progress", (state.step, state.total_steps)):
            bar = self.query_one("#dash-progress", ProgressBar)
            total = state.total_steps
            bar.update(total=total or 1, progress=min(state.step, total) if total else 0)
            label = self.query_one("#dash-step", Static)
            text = f"step {state.step}/{total or '?'}"
            # A layout pass redraws the whole screen: only when the label's width changes.
            label.update(text, layout=len(text) != len(str(label.content)))
        self._show_eta()
        if self._changed("stats", state.last_log):   # one line, always: no layout
            self.query_one("#dash-stats", Static).update(self._stats_line(state.last_log),
                                                         layout=False)
        if self._changed("preference", state.preference_version):
            self.query_one(PreferencePanel).show(state.preference_history, state.preference_last)
        if self._changed("samples", state.samples_version):
            self.query_one("#dash-samples", Static).update(samples_text(state.samples))
        self._write_log()
        self._plot_if_due()

    def _plots_due(self) -> None:
        self._plot_timer = None
        self._show_state()

    def _plot_if_due(self) -> None:
        if self._shown.get("points") == self.state.points_version:
            return
        wait = self._last_plot + PLOT_EVERY_S - perf_counter()
        if wait > 0 and not self._plot_now and "points" in self._shown:
            if self._plot_timer is None:
                self._plot_timer = self.set_timer(wait, self._plots_due, name="dashboard plots")
            return
        if self._plot_timer is not None:
            self._plot_timer.stop()
            self._plot_timer = None
        self._plot_now = False
        self._shown["points"] = self.state.points_version
        self._last_plot = perf_counter()
        self._draw_plots()

    def _stats_line(self, log: StepLog | None) -> str:
        if log is None:
            return "waiting for the first step"
        if log.gpu_mem_gb is not None and not self._gpu_total_known:
            self._gpu_total, self._gpu_total_known = gpu_total_gb(), True
        tokens = "–" if log.tokens_per_s is None else f"{log.tokens_per_s:,.0f}"
        return (f"loss {format_number(log.loss)} · lr {format_number(log.learning_rate, '.2e')} · "
                f"tokens/s {tokens}{throughput_note(log)} · "
                f"{memory_gauge(log.gpu_mem_gb, self._gpu_total)}")

    def _write_log(self) -> None:
        """Append the lines logged since the last render (at most the pane's 2000)."""
        state, log = self.state, self.query_one("#dash-log", RichLog)
        shown = self._shown.get("log")     # None: the log pane is not from this state
        new = None if shown is None else state.log_count - shown
        if new == 0:
            return
        if new is None or new > len(state.log_lines):
            log.clear()
            new = len(state.log_lines)
        self._shown["log"] = state.log_count
        lines = list(islice(state.log_lines, len(state.log_lines) - new, None))
        if len(lines) > BULK_LOG_LINES:    # a history: one write, wrapped alike, ~2x faster
            log.write(Text("\n".join(lines)))
            return
        for i, line in enumerate(lines):
            log.write(line, scroll_end=None if i == len(lines) - 1 else False)

    def _show_eta(self) -> None:
        """Phase, ETA and elapsed; while a run is live both clocks move every second."""
        state = self.state
        log = state.last_log
        if log is None and state.phase is None:
            text = ""
        else:
            since = monotonic() - self._live_at if self._live_at is not None else self._frozen_since
            elapsed = None if log is None or log.elapsed_s is None else log.elapsed_s + since
            eta = None if log is None or log.eta_s is None else max(0.0, log.eta_s - since)
            started = state.started
            if self._before_first_step and started is not None and started.time:
                # Loading, or the first step after a resume: the last log is the old
                # session's, so its clocks would stand still. Count from this start.
                before = (log.elapsed_s or 0.0) if log is not None and started.start_step else 0.0
                elapsed, eta = before + max(0.0, time() - started.time), None
            phase = state.phase_text
            ended = state.finished.state if state.finished is not None else None
            if state.finished is not None and state.finished.elapsed_s is not None:
                elapsed = state.finished.elapsed_s   # the same live and replayed
            if state.interrupted:       # no process: no ETA, and the clock has stopped
                text = f"{phase} · elapsed {format_duration(elapsed)}"
            elif ended is not None:   # nothing is coming: an ETA would mislead
                text = f"{ended} · elapsed {format_duration(elapsed)}"
            else:
                text = ((f"{phase} · " if phase else "") +
                        f"ETA {format_duration(eta)} · elapsed {format_duration(elapsed)}")
        if self._changed("eta", text):   # it fills the rest of its row: no layout
            self.query_one("#dash-eta", Static).update(text, layout=False)

    def set_interrupted(self, gone: bool) -> None:
        """The reader found the run's process gone with no end recorded: say so instead of
        "training · ETA"."""
        if gone != self.state.interrupted and self.state.finished is None:
            self.state.interrupted = gone
            if gone:
                self._before_first_step, self._live_at = False, None
            self._show_eta()

    def _tick(self) -> None:
        if (self._live_at is not None or self._before_first_step) and self.state.finished is None:
            self._show_eta()

    def _draw_plots(self) -> None:
        state = self.state
        loss_plot = self.query_one("#loss-plot", PlotextPlot)
        plt = loss_plot.plt
        plt.clear_data()
        plt.title("loss")
        plt.xlabel("step")
        train, held_out = _thin(state.train_points), _thin(state.eval_points)
        if train:
            plt.plot([x for x, _ in train], [y for _, y in train], label="train", marker="braille",
                     color=FIRST_COLOR)
        if held_out:
            plt.plot([x for x, _ in held_out], [y for _, y in held_out], label="eval",
                     marker="dot", color=SECOND_COLOR)
        loss_plot.refresh()

        lr_plot = self.query_one("#lr-plot", PlotextPlot)
        plt = lr_plot.plt
        plt.clear_data()
        plt.title("learning rate")
        rates = _thin(state.lr_points)
        if rates:
            plt.plot([x for x, _ in rates], [y for _, y in rates], marker="braille",
                     color=FIRST_COLOR)
        lr_plot.refresh()

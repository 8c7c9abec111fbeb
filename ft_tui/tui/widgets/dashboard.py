"""The training dashboard: one widget for the wizard's Train step and `ft-tui monitor`.

Both feed it the same typed events (ft_tui.core.run.events) through :meth:`Dashboard.handle_event`:
live from the trainer's thread (wrapped in a :class:`TrainingEvent` message, so no widget is
touched off the app thread), or replayed from a run directory's ``metrics.jsonl``. Every
metric point is kept in lists the widget owns, so the curves never lose a step; the plots
redraw on a timer rather than on every step, which keeps a fast run from flooding the UI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from time import monotonic

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import ProgressBar, RichLog, Static
from textual_plotext import PlotextPlot

from ft_tui.core.run.events import (Checkpoint, EvalLog, Event, Phase, PreferenceLog, RunFinished,
                                    RunStarted, Samples, StepLog, TrainWarning)
from ft_tui.core.training.throughput import throughput_note
from ft_tui.tui.widgets.preference_panel import PreferencePanel

REDRAW_EVERY_S = 0.5
TICK_EVERY_S = 1.0          # elapsed and ETA move on between step logs
MAX_PLOTTED_POINTS = 1500   # what a terminal-wide plot can show; the lists keep everything


@dataclass
class TrainingEvent(Message):
    """One trainer event, posted from the training thread (``post_message`` is thread-safe)."""

    event: Event


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _number(value: float | None, spec: str = ".4g") -> str:
    return "–" if value is None else format(value, spec)


def _thin(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Finite points, evenly thinned to what a plot can show (the last point always kept)."""
    finite = [(x, y) for x, y in points if y is not None and math.isfinite(y)]
    if len(finite) <= MAX_PLOTTED_POINTS:
        return finite
    stride = math.ceil(len(finite) / MAX_PLOTTED_POINTS)
    thinned = finite[::stride]
    if thinned[-1] != finite[-1]:
        thinned.append(finite[-1])
    return thinned


def gpu_total_gb() -> float | None:
    """Total memory of GPU 0 through NVML (no torch), or None without a usable GPU."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            return pynvml.nvmlDeviceGetMemoryInfo(handle).total / 1024**3
        finally:
            pynvml.nvmlShutdown()
    except pynvml.NVMLError:
        return None


def memory_gauge(used_gb: float | None, total_gb: float | None, width: int = 12) -> str:
    if used_gb is None:
        return "memory: CPU (no GPU gauge)"
    if not total_gb:
        return f"GPU mem {used_gb:.1f} GB"
    share = min(1.0, used_gb / total_gb)
    filled = round(share * width)
    return f"GPU mem {'█' * filled}{'░' * (width - filled)} {used_gb:.1f}/{total_gb:.0f} GB"


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
    Dashboard #dash-step { width: auto; margin-right: 2; }
    Dashboard #dash-eta { width: 1fr; }
    Dashboard #dash-stats { height: 1; }
    Dashboard #dash-plots { height: 2fr; min-height: 8; }
    Dashboard #loss-plot { width: 2fr; }
    Dashboard #lr-plot { width: 1fr; }
    Dashboard #dash-panes { height: 1fr; min-height: 5; max-height: 14; }
    Dashboard #dash-log { width: 1fr; border: round $panel; }
    Dashboard #dash-samples-box { width: 1fr; border: round $panel; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.train_points: list[tuple[int, float]] = []
        self.eval_points: list[tuple[int, float]] = []
        self.lr_points: list[tuple[int, float]] = []
        self.warnings: list[TrainWarning] = []
        self.started: RunStarted | None = None
        self.last_log: StepLog | None = None
        self.finished: RunFinished | None = None
        self.total_steps = 0
        self.step = 0
        self._gpu_total: float | None = None
        self._gpu_total_known = False
        self._plots_dirty = False
        self.phase: Phase | None = None
        self._live_at: float | None = None   # when the last live StepLog arrived (monotonic)

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
            log = RichLog(id="dash-log", max_lines=2000, wrap=True, markup=False, min_width=20)
            log.border_title = "log"
            yield log
            box = VerticalScroll(id="dash-samples-box")
            box.border_title = "sample generations"
            with box:
                yield Static("no samples yet", id="dash-samples", markup=False)

    def on_mount(self) -> None:
        self._draw_plots()
        self.set_interval(REDRAW_EVERY_S, self._redraw_if_needed, name="dashboard redraw")
        self.set_interval(TICK_EVERY_S, self._tick, name="dashboard clock")

    # ----- events -----------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything shown (a new run, or a metrics file that was rewritten)."""
        self.train_points.clear()
        self.eval_points.clear()
        self.lr_points.clear()
        self.warnings.clear()
        self.started = self.last_log = self.finished = None
        self.phase = None
        self._live_at = None
        self.total_steps = self.step = 0
        self.query_one("#dash-log", RichLog).clear()
        self.query_one(PreferencePanel).reset()
        self.query_one("#dash-samples", Static).update("no samples yet")
        self._hide_banner()
        self.query_one("#dash-progress", ProgressBar).update(total=1, progress=0)
        self.query_one("#dash-step", Static).update("step –")
        self.query_one("#dash-eta", Static).update("")
        self.query_one("#dash-stats", Static).update("waiting for the first step")
        self._plots_dirty = True

    def handle_event(self, event: Event, *, notify: bool = True) -> None:
        """Show one event. ``notify=False`` (replaying history) skips the toasts."""
        if isinstance(event, RunStarted):
            self._on_started(event)
        elif isinstance(event, StepLog):
            self._live_at = monotonic() if notify else None
            self._on_step(event)
        elif isinstance(event, Phase):
            self.phase = event
            self._show_eta()
        elif isinstance(event, EvalLog):
            self.eval_points.append((event.step, event.eval_loss))
            self._plots_dirty = True
            self._log(f"step {event.step}: eval loss {_number(event.eval_loss)}")
        elif isinstance(event, PreferenceLog):
            self.query_one(PreferencePanel).add(event)
        elif isinstance(event, Samples):
            self._on_samples(event)
        elif isinstance(event, TrainWarning):
            self._on_warning(event, notify)
        elif isinstance(event, Checkpoint):
            self._log(f"step {event.step}: checkpoint saved to {event.path}")
        elif isinstance(event, RunFinished):
            self._on_finished(event, notify)

    def _on_started(self, event: RunStarted) -> None:
        self.started = event
        self.finished = None
        self._hide_banner()
        if event.start_step:
            # A resumed run repeats the steps after its checkpoint: drop the old copies.
            for points in (self.train_points, self.eval_points, self.lr_points):
                points[:] = [p for p in points if p[0] <= event.start_step]
        self.total_steps = event.total_steps
        self.step = event.start_step
        self._update_progress()
        what = "resumed at step " + str(event.start_step) if event.start_step else "started"
        params = ""
        if event.total_params:
            share = 100 * event.trainable_params / event.total_params
            params = f", {event.trainable_params:,} of {event.total_params:,} parameters trained ({share:.2g}%)"
        self._log(f"run {what}: {event.method or '?'} on {event.device or '?'}, "
                  f"{event.total_steps} steps{params}")
        self._plots_dirty = True

    def _on_step(self, event: StepLog) -> None:
        self.last_log = event
        self.step = event.step
        if event.total_steps:
            self.total_steps = event.total_steps
        self.train_points.append((event.step, event.loss))
        if event.learning_rate is not None:
            self.lr_points.append((event.step, event.learning_rate))
        self._plots_dirty = True
        self._update_progress()
        self._show_eta()
        if event.gpu_mem_gb is not None and not self._gpu_total_known:
            self._gpu_total, self._gpu_total_known = gpu_total_gb(), True
        tokens = "–" if event.tokens_per_s is None else f"{event.tokens_per_s:,.0f}"
        stats = (f"loss {_number(event.loss)} · lr {_number(event.learning_rate, '.2e')} · "
                 f"tokens/s {tokens}{throughput_note(event)} · "
                 f"{memory_gauge(event.gpu_mem_gb, self._gpu_total)}")
        self.query_one("#dash-stats", Static).update(stats)
        self._log(f"step {event.step}/{self.total_steps or '?'}: loss {_number(event.loss)}")

    def _on_samples(self, event: Samples) -> None:
        text = Text()
        text.append(f"step {event.step}\n", style="bold")
        for sample in event.samples:
            text.append("prompt: ", style="bold")
            text.append(f"{sample.get('prompt', '')}\n")
            text.append("model:  ", style="bold")
            text.append(f"{sample.get('output', '') or '(empty)'}\n")
            if sample.get("reference"):
                text.append("wanted: ", style="bold")
                text.append(f"{sample['reference']}\n")
            text.append("\n")
        self.query_one("#dash-samples", Static).update(text)
        self._log(f"step {event.step}: {len(event.samples)} sample generations")

    def _on_warning(self, event: TrainWarning, notify: bool) -> None:
        self.warnings.append(event)
        line = f"⚠ step {event.step}: {event.code}: {event.message}"
        self._log(line)
        more = f"  (+{len(self.warnings) - 1} earlier, see the log)" if len(self.warnings) > 1 else ""
        self._show_banner(line + more, "-warning")
        if notify:
            self.notify(event.message, title=f"warning: {event.code}", severity="warning",
                        timeout=10)

    @property
    def phase_text(self) -> str:
        """training / evaluating 12/32 / generating samples / saving (empty before a run)."""
        if self.finished is not None or self.started is None:
            return ""
        return self.phase.describe() if self.phase is not None else "training"

    def _show_eta(self) -> None:
        """Phase, ETA and elapsed; while a run is live both clocks move every second."""
        log = self.last_log
        if log is None and self.phase is None:
            return
        since = monotonic() - self._live_at if self._live_at is not None else 0.0
        elapsed = None if log is None or log.elapsed_s is None else log.elapsed_s + since
        eta = None if log is None or log.eta_s is None else max(0.0, log.eta_s - since)
        phase = self.phase_text
        self.query_one("#dash-eta", Static).update(
            (f"{phase} · " if phase else "") +
            f"ETA {format_duration(eta)} · elapsed {format_duration(elapsed)}")

    def _tick(self) -> None:
        if self._live_at is not None and self.finished is None:
            self._show_eta()

    def _on_finished(self, event: RunFinished, notify: bool) -> None:
        self.finished = event
        self.step = event.step or self.step
        self._update_progress()
        self._show_eta()          # the clocks stop where the run ended
        self._live_at = None
        mark = {"done": "✓", "stopped": "■", "failed": "✗"}.get(event.state, "·")
        where = "" if "step" in event.message else f" at step {self.step}"
        line = f"{mark} run {event.state}{where}: {event.message}"
        if event.advice:
            line += f"\n  advice: {event.advice}"
        self._log(line)
        banner = line
        if self.warnings:   # the end replaces the warning banner: keep the warnings in sight
            last = self.warnings[-1]
            more = f" (+{len(self.warnings) - 1} more)" if len(self.warnings) > 1 else ""
            banner += f"\n⚠ step {last.step}: {last.code}{more}, see the log"
        self._show_banner(banner, {"done": "-done", "failed": "-error"}.get(event.state, "-warning"))
        if notify:
            severity = "error" if event.state == "failed" else "information"
            self.notify(event.message or event.state, title=f"training {event.state}",
                        severity=severity, timeout=10)

    # ----- pieces -----------------------------------------------------------------------
    def _log(self, line: str) -> None:
        self.query_one("#dash-log", RichLog).write(line)

    def _show_banner(self, text: str, kind: str) -> None:
        banner = self.query_one("#dash-banner", Static)
        banner.update(text)
        banner.set_classes(f"-shown {kind}")

    def _hide_banner(self) -> None:
        banner = self.query_one("#dash-banner", Static)
        banner.update("")
        banner.set_classes("")

    @property
    def banner_text(self) -> str:
        banner = self.query_one("#dash-banner", Static)
        return str(banner.content) if banner.has_class("-shown") else ""

    def _update_progress(self) -> None:
        bar = self.query_one("#dash-progress", ProgressBar)
        total = self.total_steps or 1
        bar.update(total=total, progress=min(self.step, self.total_steps) if self.total_steps else 0)
        self.query_one("#dash-step", Static).update(f"step {self.step}/{self.total_steps or '?'}")

    def _redraw_if_needed(self) -> None:
        if self._plots_dirty:
            self._draw_plots()

    def _draw_plots(self) -> None:
        self._plots_dirty = False
        loss_plot = self.query_one("#loss-plot", PlotextPlot)
        plt = loss_plot.plt
        plt.clear_data()
        plt.title("loss")
        plt.xlabel("step")
        train, held_out = _thin(self.train_points), _thin(self.eval_points)
        if train:
            plt.plot([x for x, _ in train], [y for _, y in train], label="train", marker="braille")
        if held_out:
            plt.plot([x for x, _ in held_out], [y for _, y in held_out], label="eval",
                     marker="dot")
        loss_plot.refresh()

        lr_plot = self.query_one("#lr-plot", PlotextPlot)
        plt = lr_plot.plt
        plt.clear_data()
        plt.title("learning rate")
        rates = _thin(self.lr_points)
        if rates:
            plt.plot([x for x, _ in rates], [y for _, y in rates], marker="braille")
        lr_plot.refresh()

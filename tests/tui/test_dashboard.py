"""The dashboard widget on its own, fed hand-made trainer events (no training)."""

import math

import pytest
from textual.app import App, ComposeResult
from textual.notifications import Notify
from textual.widgets import ProgressBar, RichLog, Static

from ft_tui.core.run.events import (Checkpoint, EvalLog, Phase, RunFinished, RunStarted, Samples,
                                    StepLog, TrainWarning)
from ft_tui.tui.widgets.dashboard import (MAX_PLOTTED_POINTS, Dashboard, _thin, format_duration,
                                          memory_gauge)

pytestmark = pytest.mark.anyio


class DashboardApp(App):
    def compose(self) -> ComposeResult:
        yield Dashboard(id="dashboard")


def started(total=10, start_step=0):
    return RunStarted(run_dir="runs/x", total_steps=total, start_step=start_step, method="lora",
                      device="cpu", trainable_params=100, total_params=1000)


def step(n, loss=None, total=10, **extra):
    return StepLog(step=n, loss=2.0 - 0.1 * n if loss is None else loss, learning_rate=1e-4 * n,
                   total_steps=total, tokens_per_s=512.0, eta_s=(total - n) * 2.0,
                   elapsed_s=n * 2.0, **extra)


async def test_events_fill_point_lists_progress_and_panes():
    app = DashboardApp()
    async with app.run_test(size=(120, 36)) as pilot:
        dash = app.query_one(Dashboard)
        dash.handle_event(started())
        for n in range(1, 5):
            dash.handle_event(step(n))
        dash.handle_event(EvalLog(step=4, eval_loss=1.7))
        dash.handle_event(Samples(step=4, samples=[{"prompt": "Refund me", "output": "billing",
                                                    "reference": "billing"}]))
        dash.handle_event(Checkpoint(step=4, path="runs/x/checkpoints/checkpoint-4"))
        await pilot.pause()
        assert [s for s, _ in dash.train_points] == [1, 2, 3, 4]
        assert dash.eval_points == [(4, 1.7)]
        assert dash.lr_points[-1] == (4, pytest.approx(4e-4))
        bar = app.query_one("#dash-progress", ProgressBar)
        assert (bar.progress, bar.total) == (4, 10)
        assert "ETA 12s" in str(app.query_one("#dash-eta", Static).content)
        stats = str(app.query_one("#dash-stats", Static).content)
        assert "tokens/s 512" in stats and "CPU" in stats
        assert "Refund me" in str(app.query_one("#dash-samples", Static).content)
        log_text = "\n".join(line.text for line in app.query_one("#dash-log", RichLog).lines)
        assert "eval loss 1.7" in log_text and "checkpoint-4" in log_text


async def test_warning_shows_a_toast_and_stays_in_the_banner():
    messages = []
    app = DashboardApp()
    async with app.run_test(size=(120, 36), message_hook=messages.append) as pilot:
        dash = app.query_one(Dashboard)
        dash.handle_event(started())
        dash.handle_event(step(1, loss=float("nan")))
        dash.handle_event(TrainWarning(step=1, code="nan_loss", message="the loss became NaN"))
        await pilot.pause()
        toasts = [m.notification for m in messages if isinstance(m, Notify)]
        assert any(t.severity == "warning" and "NaN" in t.message for t in toasts)
        assert "nan_loss" in dash.banner_text
        # A NaN point is kept in the list but never handed to the plot.
        assert math.isnan(dash.train_points[0][1])
        assert _thin(dash.train_points) == []


async def test_replayed_history_skips_toasts_but_keeps_the_banner():
    messages = []
    app = DashboardApp()
    async with app.run_test(size=(120, 36), message_hook=messages.append) as pilot:
        dash = app.query_one(Dashboard)
        dash.handle_event(TrainWarning(step=3, code="overfitting", message="eval loss rises"),
                          notify=False)
        dash.handle_event(RunFinished("failed", 3, "out of memory", "use qlora"), notify=False)
        await pilot.pause()
        assert not [m for m in messages if isinstance(m, Notify)]
        assert "failed" in dash.banner_text and "use qlora" in dash.banner_text


async def test_a_resumed_run_drops_the_steps_after_its_checkpoint():
    app = DashboardApp()
    async with app.run_test(size=(120, 36)):
        dash = app.query_one(Dashboard)
        dash.handle_event(started())
        for n in range(1, 8):   # a crash after step 7; the checkpoint was at step 5
            dash.handle_event(step(n))
        dash.handle_event(EvalLog(step=6, eval_loss=1.5))
        dash.handle_event(started(start_step=5))
        for n in range(6, 11):
            dash.handle_event(step(n))
        assert [s for s, _ in dash.train_points] == list(range(1, 11))
        assert dash.eval_points == []


async def test_every_point_is_kept_while_the_plot_gets_a_thinned_copy():
    app = DashboardApp()
    async with app.run_test(size=(120, 36)) as pilot:
        dash = app.query_one(Dashboard)
        total = 3 * MAX_PLOTTED_POINTS
        dash.handle_event(started(total=total))
        for n in range(1, total + 1):
            dash.handle_event(step(n, loss=1.0 / n, total=total))
        await pilot.pause(0.6)   # the plots redraw on their timer
        assert len(dash.train_points) == total
        thinned = _thin(dash.train_points)
        assert len(thinned) <= MAX_PLOTTED_POINTS + 1 and thinned[-1][0] == total


def test_formatting_helpers():
    assert format_duration(3725) == "1h02m"
    assert format_duration(65) == "1m05s"
    assert format_duration(None) == "–"
    assert memory_gauge(None, None).startswith("memory: CPU")
    assert memory_gauge(6.0, 24.0, width=4) == "GPU mem █░░░ 6.0/24 GB"
    assert memory_gauge(6.0, None) == "GPU mem 6.0 GB"


async def test_phase_line_and_clocks_that_move_between_step_logs(monkeypatch):
    import ft_tui.tui.widgets.dashboard as dashboard

    now = [1000.0]
    monkeypatch.setattr(dashboard, "monotonic", lambda: now[0])
    app = DashboardApp()
    async with app.run_test(size=(80, 24)) as pilot:
        dash = app.query_one(Dashboard)
        eta = app.query_one("#dash-eta", Static)
        dash.handle_event(started())
        dash.handle_event(step(2))                     # ETA 16 s, elapsed 4 s
        dash.handle_event(Phase(step=2, phase="evaluating", done=12, total=32))
        await pilot.pause()
        assert str(eta.content) == "evaluating 12/32 · ETA 16s · elapsed 4s"
        now[0] += 5                                     # an evaluation takes its time
        dash._tick()
        await pilot.pause()
        assert str(eta.content) == "evaluating 12/32 · ETA 11s · elapsed 9s"
        dash.handle_event(RunFinished("stopped", 2, "stopped at step 2"))
        now[0] += 5
        dash._tick()
        await pilot.pause()
        # frozen, and no ETA: a stopped run is not coming to an end by itself (in tmux a
        # stopped run said "ETA 1m21s")
        assert str(eta.content) == "stopped · elapsed 9s"


async def test_elapsed_ticks_while_the_model_loads_and_the_first_step_runs(monkeypatch):
    """A DPO step of the default model on a CPU can take minutes: the clock moves from the
    run's start, not only from its first step log."""
    import ft_tui.tui.widgets.dashboard as dashboard

    monkeypatch.setattr(dashboard, "time", lambda: 5000.0)
    app = DashboardApp()
    async with app.run_test(size=(80, 24)) as pilot:
        dash = app.query_one(Dashboard)
        eta = app.query_one("#dash-eta", Static)
        dash.handle_event(RunStarted(run_dir="runs/x", total_steps=10, start_step=0, method="lora",
                                     device="cpu", trainable_params=100, total_params=1000,
                                     time=5000.0 - 75))
        dash.handle_event(Phase(step=0, phase="training", done=0, total=0))
        dash._tick()
        await pilot.pause()
        assert str(eta.content) == "training · ETA – · elapsed 1m15s"
        monkeypatch.setattr(dashboard, "time", lambda: 5010.0)
        dash._tick()
        await pilot.pause()
        assert str(eta.content).endswith("elapsed 1m25s")
        dash.handle_event(step(1))                      # from here the run's own clock
        dash._tick()
        await pilot.pause()
        assert str(eta.content).endswith("elapsed 2s")


async def test_dpo_signals_show_in_their_panel_and_the_watchdog_warning_in_the_banner():
    from ft_tui.core.run.events import PreferenceLog
    from ft_tui.tui.widgets.preference_panel import PreferencePanel

    app = DashboardApp()
    async with app.run_test(size=(140, 40)) as pilot:
        dash = app.query_one(Dashboard)
        panel = app.query_one(PreferencePanel)
        dash.handle_event(started())
        dash.handle_event(step(1))
        await pilot.pause()
        assert not panel.display                       # SFT-like run: no DPO panel
        for n, margin in ((1, 0.02), (2, 0.4), (3, 0.9)):
            dash.handle_event(PreferenceLog(step=n, margin=margin, accuracy=0.5 + 0.1 * n,
                                            chosen=margin / 2, rejected=-margin / 2))
        dash.handle_event(PreferenceLog(step=3, margin=0.7, accuracy=0.75, chosen=0.3,
                                        rejected=-0.4, split="eval"))
        dash.handle_event(TrainWarning(step=3, code="margin_collapsed",
                                       message="the reward margin fell back to 10% of its best"))
        await pilot.pause()
        assert panel.display
        text = panel.summary()
        assert "train: reward margin +0.900, preference accuracy 80%" in text
        assert "chosen reward +0.450, rejected reward -0.450" in text
        assert "eval: reward margin +0.700, preference accuracy 75%" in text
        from tests.tui.render_text import plain
        shown = plain(panel)
        assert "DPO signals" in shown and "reward margin" in shown and "▁" in shown
        assert "margin fell back" in dash.banner_text

        dash.reset()
        assert not panel.display


async def test_a_finished_run_shows_one_elapsed_time_live_and_replayed(monkeypatch):
    """In tmux a run ended at 'elapsed 6m19s' live (the clock ran on while the adapter
    was saved) and read 5m54s when the wizard was reopened (the last step's): the end
    event's own time is what both show."""
    import ft_tui.tui.widgets.dashboard as dashboard

    now = [1000.0]
    monkeypatch.setattr(dashboard, "monotonic", lambda: now[0])
    end = RunFinished("done", 2, "finished 2 steps", elapsed_s=379.0)
    shown = []
    for live in (True, False):
        app = DashboardApp()
        async with app.run_test(size=(80, 24)) as pilot:
            dash = app.query_one(Dashboard)
            for event in (started(total=2), step(1, total=2), step(2, total=2)):
                dash.handle_event(event, notify=live)
            now[0] += 25                      # saving the adapter
            dash.handle_event(end, notify=live)
            dash._tick()
            await pilot.pause()
            shown.append(str(app.query_one("#dash-eta", Static).content))
    assert shown == ["done · elapsed 6m19s"] * 2


def test_the_end_event_carries_the_training_time():
    from ft_tui.core.run.events import decode_event

    end = RunFinished("stopped", 3, "stopped at step 3", elapsed_s=12.5)
    assert decode_event(end.to_dict()) == end
    assert decode_event({"type": "end", "state": "done"}).elapsed_s is None   # older runs

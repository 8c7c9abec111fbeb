"""App-thread CPU share of the training dashboard while a run trains.

    python tests/bench/dashboard_cpu.py [--rate 20] [--seconds 20]

A thread posts a realistic event feed to the dashboard, as the trainer's thread does in the
wizard's Train step (a ``TrainingEvent`` message per event, ``post_message``): ``--rate`` step
logs a second (a fast GPU run that logs every step; a CPU run of the default model logs about
one every 2 s), an evaluation with its phase events every 10 steps, samples and a checkpoint
every 50. The dashboard runs headless under ``App.run_test`` at 100x30, so every refresh is
composed as for a terminal. The app thread's CPU time (``time.thread_time`` read on it)
is divided by the wall time of the feed.

Arms, one after the other in one process: "new" (the shipped dashboard: events fold into
its state, widgets refreshed at most twice a second) and "per-event" (the baseline: the
widgets updated on every event, plots on their 0.5 s timer, as before issue 14; the same
class as tests/bench/dashboard_replay.py's). Goal: under 5 % of a core. Not collected by
pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from textual.app import App, ComposeResult  # noqa: E402

from ft_tui.core.run.events import (Checkpoint, EvalLog, Phase, RunStarted, Samples,  # noqa: E402
                                    StepLog)
from ft_tui.tui.widgets.dashboard import Dashboard, TrainingEvent  # noqa: E402
from tests.bench.dashboard_replay import PerEventDashboard  # noqa: E402


class DashboardApp(App):
    def __init__(self, dashboard_cls) -> None:
        super().__init__()
        self.dashboard_cls = dashboard_cls

    def compose(self) -> ComposeResult:
        yield self.dashboard_cls(id="dashboard")

    def on_training_event(self, message: TrainingEvent) -> None:
        self.query_one(Dashboard).handle_event(message.event)


def feed(app: App, rate: float, seconds: float, done: threading.Event) -> None:
    """The trainer's side: post events at ``rate`` steps a second for ``seconds``."""
    total = int(rate * seconds)
    post = lambda event: app.post_message(TrainingEvent(event))  # noqa: E731
    post(RunStarted(run_dir="runs/bench", total_steps=total, method="lora", device="cuda"))
    start = time.perf_counter()
    for step in range(1, total + 1):
        post(StepLog(step=step, loss=2.0 * math.exp(-step / 300) + 0.5, learning_rate=2e-4,
                     tokens_per_s=40_000.0, eta_s=(total - step) / rate, elapsed_s=step / rate,
                     gpu_mem_gb=6.0, total_steps=total))
        if step % 10 == 0:
            post(Phase(step=step, phase="evaluating", done=32, total=32))
            post(EvalLog(step=step, eval_loss=1.0 + step / 10_000))
            post(Phase(step=step, phase="training"))
        if step % 50 == 0:
            post(Samples(step=step, samples=[{"prompt": "I was charged twice.",
                                              "output": "billing", "reference": "billing"}]))
            post(Checkpoint(step=step, path=f"runs/bench/checkpoints/checkpoint-{step}"))
        time.sleep(max(0.0, start + step / rate - time.perf_counter()))
    done.set()


async def measure(dashboard_cls, rate: float, seconds: float) -> tuple[float, float, int]:
    """(app-thread CPU seconds, feed wall seconds, renders) for one arm."""
    app = DashboardApp(dashboard_cls)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        done = threading.Event()
        dash = app.query_one(Dashboard)
        renders0 = dash.renders
        cpu0, wall0 = time.thread_time(), time.perf_counter()   # this is the app thread
        threading.Thread(target=feed, args=(app, rate, seconds, done), daemon=True).start()
        while not done.is_set():
            await asyncio.sleep(0.1)
        await pilot.pause()          # the last events shown
        return time.thread_time() - cpu0, time.perf_counter() - wall0, dash.renders - renders0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=20.0, help="step logs a second")
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args(argv)
    print(f"feed: {args.rate:g} step logs/s (+ evals every 10 steps, samples every 50) "
          f"for {args.seconds:g} s")
    shares = {}
    for name, cls in (("new", Dashboard), ("per-event", PerEventDashboard)):
        cpu, wall, renders = asyncio.run(measure(cls, args.rate, args.seconds))
        shares[name] = cpu / wall
        print(f"{name:>9}: app thread {cpu:.2f} s CPU over {wall:.1f} s = {100 * cpu / wall:.1f} % "
              f"of a core ({renders} renders, {renders / wall:.1f}/s)")
    print(f"per-event / new: {shares['per-event'] / shares['new']:.1f}x; goal < 5 %: "
          f"{'met' if shares['new'] < 0.05 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

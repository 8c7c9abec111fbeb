"""Reopening a long run: time from `ft-tui monitor` starting to the first paint that shows
the run's last step, on a synthetic 20,000-event metrics.jsonl.

    python tests/bench/dashboard_replay.py [--events 20000]

Two arms, each in a fresh process, on the same file (written with the real event encoders,
tests/tui/long_run.py), under ``App.run_test`` at 100x30:

- "new": the shipped path. MonitorApp folds the history into a DashboardState on a worker
  thread and the dashboard renders it once.
- "per-event" (the baseline): the pre-issue-14 path, kept here. The history is read on the
  app thread and every event goes to the dashboard at once with a widget update per event
  (step label, progress, ETA, stats line, a log line), the plots on their timer, as the old
  ``Dashboard.handle_event`` did. (It reads the whole file in one go; the old monitor read
  4 MiB a poll, every 0.5 s, so the baseline is if anything flattering.)

The clock starts when the app is created and stops once the step label shows the last step
and the screen has been refreshed after it. Goal: under 1 s. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ft_tui.core.run.events import BadEvent, decode_event  # noqa: E402
from ft_tui.core.run.rundir import RunDir  # noqa: E402
from ft_tui.tui.monitor import MonitorApp  # noqa: E402
from ft_tui.tui.widgets.dashboard import Dashboard  # noqa: E402


class PerEventDashboard(Dashboard):
    """The old behaviour: every event updates the widgets at once (plots on the timer)."""

    def handle_event(self, event, *, notify: bool = True) -> None:
        super().handle_event(event, notify=notify)
        self._shown["points"] = self.state.points_version   # the old plots waited for a timer
        self._show_state()
        self._request_render()


class PerEventMonitor(MonitorApp):
    """The old monitor: the history read and handed over event by event on the app thread."""

    def compose(self):
        for widget in super().compose():
            yield PerEventDashboard(id="dashboard") if isinstance(widget, Dashboard) else widget

    def _replay(self, first) -> None:
        self.mistyped = 0
        records = list(first)
        while not self.follower.caught_up:
            records += self.follower.poll()[1]
        for record in records:
            try:
                event = decode_event(record)
            except BadEvent:
                self.mistyped += 1
                continue
            if event is not None:
                self.dashboard.handle_event(event, notify=False)
        self._show_status()


async def time_to_paint(app_cls, run: RunDir, last_step_label: str) -> tuple[float, float]:
    """(seconds to the painted last step, app-thread CPU seconds by then)."""
    from textual.widgets import Static

    cpu0 = time.thread_time()
    start = time.perf_counter()
    app = app_cls(run)
    async with app.run_test(size=(100, 30)) as pilot:
        label = app.query_one("#dash-step", Static)
        while str(label.content) != last_step_label or app.dashboard.replaying:
            assert time.perf_counter() - start < 600, "the last step was never shown"
            await asyncio.sleep(0.02)   # (a busier poll would take the GIL from the worker)
        app.screen._compositor.render_update(full=True)   # paint it, as the terminal would
        await pilot.pause()
        return time.perf_counter() - start, time.thread_time() - cpu0


def arm(name: str, run_path: str) -> None:
    run = RunDir.open(run_path)
    status = json.loads(run.status_path.read_text())
    label = f"step {status['step']}/{status['total_steps']}"
    app_cls = MonitorApp if name == "new" else PerEventMonitor
    wall, cpu = asyncio.run(time_to_paint(app_cls, run, label))
    print(json.dumps({"arm": name, "wall_s": wall, "app_thread_cpu_s": cpu}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--arm", choices=("new", "per-event"), help=argparse.SUPPRESS)
    p.add_argument("--run", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.arm:
        arm(args.arm, args.run)
        return 0
    from tests.tui.long_run import write_long_run

    with tempfile.TemporaryDirectory() as tmp:
        run = write_long_run(Path(tmp), args.events)
        size = run.metrics_path.stat().st_size
        print(f"{args.events} events, metrics.jsonl {size / 1e6:.1f} MB")
        results = {}
        for name in ("new", "per-event"):
            out = subprocess.run([sys.executable, __file__, "--arm", name, "--run", str(run.path)],
                                 capture_output=True, text=True, cwd=ROOT)
            if out.returncode:
                print(out.stderr[-2000:], file=sys.stderr)
                return 1
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    new, old = results["new"], results["per-event"]
    for r in (new, old):
        print(f"{r['arm']:>9}: first paint with the last step {r['wall_s']:.2f} s "
              f"(app-thread CPU {r['app_thread_cpu_s']:.2f} s)")
    print(f"per-event / new: {old['wall_s'] / new['wall_s']:.1f}x; "
          f"goal < 1 s: {'met' if new['wall_s'] < 1 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

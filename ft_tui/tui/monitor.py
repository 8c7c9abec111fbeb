"""`ft-tui monitor RUN_DIR`: the training dashboard attached to a run directory.

A run started headless (``ft-tui train`` under tmux or nohup, over SSH) writes its events
to ``metrics.jsonl`` and its state to ``status.json``; this app only reads them. It reads
what is there on a worker thread (the dashboard's state, folded off the app thread and
shown in one render, so a 20,000-event history does not freeze the screen), then follows
the file: it polls the size on a timer and reads from the byte offset it has reached, so
leaving and re-attaching loses nothing, and a file rewritten by a resume (new inode, or
shorter) is read again from the start, on the worker again. No socket is opened.
``x`` stops a live run the way the wizard does (the STOP file: a checkpoint, then the end);
``q`` only leaves. Without RUN_DIR it opens the live run under the output folder (the
newest one when none trains).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static

from ft_tui.core.config.names import shell_quote
from ft_tui.core.run.events import BadEvent, decode_event
from ft_tui.core.process import process_alive
from ft_tui.core.run.follow import JsonlFollower
from ft_tui.core.run.rundir import RunDir, RunDirError
from ft_tui.tui.widgets.dashboard import Dashboard, format_duration
from ft_tui.tui.widgets.dashboard_state import DashboardState

POLL_EVERY_S = 0.5


def describe_status(status: dict[str, Any], run_path: Path, now: float | None = None,
                    phase: str = "") -> str:
    """One line about the run's state, with what to do when its process is gone. ``phase``:
    the dashboard's, newer than status.json's message once steps are logged."""
    state = status.get("state", "created")
    pid = status.get("pid")
    gone = state == "running" and pid and not process_alive(pid)
    step, total = status.get("step", 0), status.get("total_steps") or "?"
    line = f"{'interrupted' if gone else state} · step {step}/{total}"
    message = phase if phase and state == "running" and not gone else status.get("message")
    if message:
        line += f" · {message}"
    updated = status.get("updated")
    if updated:
        line += f" · updated {format_duration((now or time.time()) - updated)} ago"
    if gone:
        line += (f" · the training process ({pid}) is gone: resume it with "
                 f"`ft-tui train --resume {shell_quote(run_path)}`")
    elif state in ("stopped", "failed"):
        line += f" · resume with `ft-tui train --resume {shell_quote(run_path)}`"
    return line


class MonitorApp(App[int]):
    """The dashboard on a run directory, live or finished."""

    TITLE = "ft-tui monitor"
    CSS = """
    #monitor-status { height: auto; padding: 0 1; background: $boost; }
    Dashboard { padding: 0 1; }
    """
    BINDINGS = [
        Binding("q", "quit", "Leave", tooltip="The run goes on; ft-tui monitor comes back to it"),
        Binding("x", "stop", "Stop", tooltip="Stop the run at the next step, a checkpoint first"),
        Binding("r", "reload", "Reload"),
        Binding("z", "zoom", "Zoom", tooltip="One pane full screen in turn: plots, log, samples"),
        Binding("escape", "unzoom", "Back", show=False),
    ]

    def __init__(self, run_dir: RunDir, *, poll_every_s: float = POLL_EVERY_S) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.poll_every_s = poll_every_s
        self.follower = JsonlFollower(run_dir.metrics_path)
        self.status: dict[str, Any] = {}
        self.mistyped = 0          # JSON lines that are no valid event (since the last rewind)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("reading the run...", id="monitor-status", markup=False)
        yield Dashboard(id="dashboard")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = str(self.run_dir.path)
        self._replay([])
        self.set_interval(self.poll_every_s, self.poll, name="follow metrics")

    @property
    def dashboard(self) -> Dashboard:
        return self.query_one(Dashboard)

    def _replay(self, first: list[dict[str, Any]]) -> None:
        """Read the history (``first``: records already read) on a worker thread; the
        dashboard shows it in one go. The follower belongs to that thread until then."""
        follower = self.follower
        self.mistyped = 0

        def read(state: DashboardState) -> int:
            mistyped = fold_records(state, first)
            while not follower.caught_up:
                rewound, records = follower.poll()
                if rewound:              # rewritten while we read it: from the start
                    state.clear()
                    mistyped = 0
                mistyped += fold_records(state, records)
            return mistyped

        self.dashboard.replay(read)
        self._show_status()

    def on_dashboard_replayed(self, message: Dashboard.Replayed) -> None:
        self.mistyped = message.extra or 0
        if message.error is not None:
            self.notify(f"Could not read {self.run_dir.metrics_path}: {message.error}",
                        severity="error", timeout=15)
        self._show_status()

    def poll(self) -> None:
        """Take in the new lines of metrics.jsonl, then the status file."""
        if not self.is_running:
            return   # the timer can fire once more while the app is closing its screens
        if not self.dashboard.replaying:
            rewound, records = self.follower.poll()
            if rewound:
                self._replay(records)
                return
            for record in records:
                try:
                    event = decode_event(record)
                except BadEvent:
                    self.mistyped += 1
                    continue
                if event is not None:
                    self.dashboard.handle_event(event)
        self._show_status()

    def _show_status(self) -> None:
        was = self.status.get("state")
        self.status = self.run_dir.read_status()
        if self.status.get("state") != was:
            self.refresh_bindings()   # Stop only while it trains
        line = describe_status(self.status, self.run_dir.path, phase=self.dashboard.phase_text)
        self.dashboard.set_interrupted(line.startswith("interrupted"))
        if self.dashboard.replaying:
            line += " · reading the run's history…"
        skipped = self.follower.bad_lines + self.mistyped
        if skipped and not self.dashboard.replaying:
            line += (f" · {skipped} unreadable line{'s' * (skipped != 1)} in metrics.jsonl "
                     "skipped")
        self.query_one("#monitor-status", Static).update(line)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.run_dir.read_state() == "running"
        return True

    def action_stop(self) -> None:
        from ft_tui.core.training.detach import DetachedRun
        from ft_tui.tui.screens.confirm import ConfirmModal

        live = DetachedRun.attach(self.run_dir)
        if live is None:
            self.notify("The run is not training.", severity="warning")
            return

        def answer(stop: bool | None) -> None:
            if stop:
                live.request_stop()
                self.notify("Stopping at the next step; a checkpoint is saved first.")

        self.push_screen(ConfirmModal("Stop training? A checkpoint is saved first; "
                                      f"ft-tui train --resume {self.run_dir.path} continues it."),
                         answer)

    def action_zoom(self) -> None:
        self.dashboard.zoom_next()

    def action_unzoom(self) -> None:
        self.dashboard.unzoom()

    def action_reload(self) -> None:
        """Read the whole file again (e.g. after editing it by hand)."""
        self.follower = JsonlFollower(self.run_dir.metrics_path)
        self._replay([])


def fold_records(state: DashboardState, records: list[dict[str, Any]]) -> int:
    """Fold metrics.jsonl records into ``state``; returns how many were mistyped."""
    mistyped = 0
    for record in records:
        try:
            event = decode_event(record)
        except BadEvent:
            mistyped += 1
            continue
        if event is not None:
            state.fold(event)
    return mistyped


def live_or_newest_run(output_dir: str | os.PathLike) -> str | None:
    """The run under ``output_dir`` that trains now (the newest such), else the newest."""
    from ft_tui.core.run.listing import list_runs

    runs = list_runs(output_dir)
    running = [r for r in runs if r.state == "running"]
    return (running or runs)[0].path if runs else None


def run_monitor(run_dir: str | os.PathLike | None, output_dir: str = "runs") -> int:
    """Open the monitor on ``run_dir`` (None: ``live_or_newest_run(output_dir)``); returns
    the process exit code (2: not a run dir)."""
    if run_dir is None:
        run_dir = live_or_newest_run(output_dir)
        if run_dir is None:
            print(f"ft-tui monitor: no runs under {output_dir}/; give the run directory "
                  "(`ft-tui runs --output-dir DIR` lists them).", file=sys.stderr)
            return 2
    try:
        run = RunDir.open(run_dir)
    except RunDirError as exc:
        print(f"ft-tui monitor: {exc}. Give the folder that `ft-tui train` created for the run "
              "(it holds config.yaml, status.json and metrics.jsonl), e.g. runs/<run name>.",
              file=sys.stderr)
        return 2
    return int(MonitorApp(run).run() or 0)

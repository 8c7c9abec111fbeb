"""Step 5, Train: start, watch, stop and resume a training run.

The trainer runs in its own process and session (core/training/detach.py: ``start_run``, one
process or accelerate workers, exactly as ``ft-tui train``), so a closed terminal or a
dropped SSH connection does not end it. This step is a client of the run directory: a
thread worker supervises the trainer, follows ``metrics.jsonl`` with the follower that
``ft-tui monitor`` uses and hands each event over with ``post_message`` (thread-safe); the
dashboard takes them in on the app thread and redraws at most twice a second. Stop and
Resume reach the trainer through the run's STOP file. A live run found at start-up (the
wizard was closed, or its terminal went away) is attached to: its history is read on a
worker thread and shown at once, then followed. Stopping is graceful: the trainer writes a
checkpoint at the next step boundary, so a stopped run can be resumed here or with
``ft-tui train --resume``. ``TrainStep.in_process`` (tests only) trains in this process
instead, through the same ``start_run``.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.message import Message
from textual.widgets import Button, Static
from textual.worker import Worker, WorkerState

from ft_tui.core.config.names import shell_quote
from ft_tui.core.config.settings import ConfigError, RunConfig
from ft_tui.core.run.follow import JsonlFollower
from ft_tui.core.run.events import Checkpoint, Phase, RunFinished, RunStarted
from ft_tui.core.run.rundir import RunDir, RunDirError
from ft_tui.tui.messages import ConfigChanged, StepCompleted, go_to_step
from ft_tui.tui.steps.train_summary import config_summary, preflight_line
from ft_tui.tui.state import WizardState
from ft_tui.tui.screens.confirm import ConfirmModal
from ft_tui.tui.widgets.dashboard import Dashboard, TrainingEvent


class TrainingRewound(Message):
    """metrics.jsonl was rewritten (a resume cuts what follows its checkpoint): its events."""

    def __init__(self, events: list) -> None:
        super().__init__()
        self.events = events


class TrainStep(Container):
    HELP = """\
Train the model with the settings from the Configure step.

- **Start** (`s`) creates a new run directory under the output folder and trains in the
  background; the keys keep working while it runs.
- The dashboard shows the training loss and the held-out (eval) loss, the learning rate,
  progress with the time left, tokens per second, GPU memory, a log, and what the model
  answers to a few held-out prompts as it learns. Warnings (overfitting, a loss that became
  NaN, QLoRA on a CPU...) pop up and stay in the banner.
- The line under the progress bar says what the trainer is doing: training, evaluating
  12/32 (each evaluation scores `training.max_eval_rows` held-out rows), generating
  samples, or saving.
- **Stop** (`x`) asks first, then stops at the next optimizer step (no evaluation or
  samples after it) and saves a checkpoint. **Resume** (`r`) continues from it.
- **The run goes on without the wizard.** It trains in its own process (output in
  `train.log` in the run directory), so closing the terminal or losing the SSH connection
  does not stop it. `q` while it trains asks: **leave it running** (the default) or stop it
  with a checkpoint. To come back, run `ft-tui` again in the same folder (the dashboard
  shows the run with its whole history) or `ft-tui monitor RUN_DIR`; `ft-tui runs` lists
  every run and its state. A run started headless (`ft-tui train`, `ft-tui train --detach`)
  is watched the same way.
- When the run is done, `e` goes on to Evaluate & Export.
- `z` shows one pane full screen in turn (loss plot, learning rate, DPO signals, log,
  samples) and then the whole dashboard again; `Esc` goes back at once. On a small
  terminal this is how the panes below the fold are read.

**A falling training loss with a rising eval loss means overfitting**: fewer epochs, a
lower learning rate, more dropout or more data.
"""

    DEFAULT_CSS = """
    TrainStep { padding: 0 1; }
    TrainStep #train-summary { height: auto; color: $text-muted; }
    TrainStep #train-buttons { height: 1; margin: 0 0 0 0; }
    TrainStep #train-buttons Button { margin: 0 1 0 0; min-width: 0; width: auto; padding: 0; }
    TrainStep #train-status { height: auto; }
    """

    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("x", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
        Binding("e", "evaluate", "Evaluate", show=False),   # the button says "(e)"
        Binding("z", "zoom", "Zoom", tooltip="One pane full screen in turn: plots, log, samples"),
        Binding("escape", "unzoom", "Back", show=False),
        # While a detached run trains, q leaves it going (the app's Quit asks how).
        Binding("q", "leave", "Leave (run goes on)",
                tooltip="The run keeps training; ft-tui or ft-tui monitor RUN_DIR comes back to it"),
    ]
    in_process = False   # tests only: train in this process (same start_run), not detached

    def __init__(self, state: WizardState, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = state
        self.runner = None          # the Session (core.training.session) of the current/last run
        self._training = False
        self._stopping = False
        self._quitting = False      # the app exits once the run has stopped and saved
        self._finished_state: str | None = None   # how the run started here ended
        self._last_checkpoint: str | None = None  # newest complete checkpoint of this run
        self._launch_after_replay: tuple | None = None   # a resume waiting for its history
        self._attach_after_replay: tuple | None = None   # a live run waiting for its history
        self._leave = threading.Event()   # set: the supervising thread lets the run go on alone

    @property
    def is_running(self) -> bool:
        """True while a training run started here is active (quitting must ask)."""
        return self._training

    @property
    def detached(self) -> bool:
        """True while the active run trains in its own process (leaving does not stop it)."""
        return self._training and not self.in_process

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave":   # the footer says "Leave (run goes on)" only then
            return self.detached
        return True

    async def action_leave(self) -> None:
        await self.app.action_quit_app()   # it asks: leave the run going, or stop it

    @property
    def is_quitting(self) -> bool:
        """True after Quit was confirmed: the run is stopping to save a checkpoint."""
        return self._training and self._quitting

    @property
    def status_text(self) -> str:
        return str(self.query_one("#train-status", Static).content)

    # ----- layout -----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(config_summary(self.state.cfg), id="train-summary", markup=False)
        yield Static("Preflight: checking this machine…", id="train-preflight", markup=False)
        with Horizontal(id="train-buttons"):
            yield Button("Start (s)", id="start", variant="primary", compact=True)
            yield Button("Stop (x)", id="stop", variant="error", compact=True, disabled=True)
            yield Button("Resume (r)", id="resume", compact=True, disabled=True)
            yield Button("Evaluate → (e)", id="evaluate", compact=True, disabled=True)
        yield Static("", id="train-status", markup=False)
        yield Dashboard(id="dashboard")

    def on_mount(self) -> None:
        self._show_last_run()
        self._update_buttons()

    def on_show_step(self) -> None:
        if not self._training:
            self._refresh_summary()
            self._check_preflight(copy.deepcopy(self.state.cfg))

    def on_config_changed(self, message: ConfigChanged) -> None:
        self._refresh_summary()

    preflight_line = staticmethod(preflight_line)   # tests/tui replace it with a fixed line

    @work(thread=True, exclusive=True, exit_on_error=False, group="preflight",
          description="preflight")
    def _check_preflight(self, cfg: RunConfig) -> None:
        line = self.preflight_line(cfg)
        self.app.call_from_thread(self.query_one("#train-preflight", Static).update, line)

    def on_unmount(self) -> None:
        self._leave.set()                # a detached run goes on; its supervisor ends
        if not self.in_process:
            return
        # The worker thread would keep the process alive; stop it at its next checkpoint.
        self._stopping = True            # a run still being prepared stops once it exists
        if self.runner is not None:
            self.runner.request_stop()   # harmless when the run has ended already

    @property
    def dashboard(self) -> Dashboard:
        return self.query_one("#dashboard", Dashboard)

    def _refresh_summary(self) -> None:
        self.query_one("#train-summary", Static).update(config_summary(self.state.cfg))

    def _set_status(self, text: str) -> None:
        self.query_one("#train-status", Static).update(text)

    def _last_run(self) -> RunDir | None:
        if not self.state.run_dir:
            return None
        try:
            return RunDir.open(self.state.run_dir)
        except RunDirError:
            return None

    def _show_last_run(self) -> None:
        """After a restart, show the last run's history (and whether it can be resumed)."""
        run = self._last_run()
        if run is None:
            self._set_status("No run yet: press s to start training.")
            return
        status = run.read_status()
        state = run.read_state()   # "interrupted": running, but its process is gone
        if state == "running" and not self.in_process:
            self._reattach(run)
            return
        # The history is read and folded on a worker thread, then shown in one render.
        self.dashboard.replay(lambda state: state.fold_all(run.read_events()))
        where = f"Last run: {run.path} ({state}, step {status.get('step', 0)}/{status.get('total_steps', '?')})"
        hint = {"stopped": "press r to resume it, or s to start a new run",
                "failed": "press r to resume it from its last checkpoint, or s for a new run",
                "interrupted": "its process was killed: press r to resume it from its last "
                               "checkpoint, or s for a new run",
                "done": "press e to evaluate it, or s to start a new run",
                "running": "it is training in another process: watch it with ft-tui monitor"}
        self._set_status(f"{where}: {hint.get(state, 'press s to start a new run')}.")

    def _replay_following(self, run: RunDir) -> JsonlFollower:
        """Show the run's history (read on a worker thread) through a follower that then
        goes on from where the history ended: no line is lost or read twice."""
        from ft_tui.tui.monitor import fold_records

        follower = JsonlFollower(run.metrics_path)

        def read(state) -> None:
            while not follower.caught_up:
                rewound, records = follower.poll()
                if rewound:
                    state.clear()
                fold_records(state, records)

        self.dashboard.replay(read)
        return follower

    def _reattach(self, run: RunDir) -> None:
        """A run that trains on without a wizard (this one was closed, or its terminal went
        away): show its history, then follow it as if it had been started here."""
        from ft_tui.core.training.detach import DetachedRun

        live = DetachedRun.attach(run, self._replay_following(run))
        if live is None:    # it ended in the meantime
            self._show_last_run()
            return
        self._training, self._stopping, self._quitting = True, False, False
        self._finished_state = None
        latest = run.latest_checkpoint()
        self._last_checkpoint = str(latest) if latest else None
        self._attach_after_replay = (live,)
        self._set_status(f"Reattached to {run.path}, training in process {live.pid} (reading "
                         "its history...)")
        if not self.dashboard.replaying:
            self._follow(live)

    def _update_buttons(self) -> None:
        state = self._finished_state
        if state is None:  # no run ended in this session: ask the run directory
            run = self._last_run()
            state = run.read_state() if run else None
        self.query_one("#start", Button).disabled = self._training
        self.query_one("#stop", Button).disabled = not self._training or self._stopping
        self.query_one("#resume", Button).disabled = self._training or state not in (
            "stopped", "failed", "interrupted")
        self.query_one("#evaluate", Button).disabled = self._training or state != "done"
        self.refresh_bindings()   # the footer's "Leave (run goes on)" only while it trains
        # After the refresh: disabling the focused button blurs it, and the step's keys
        # (s, x, r, e) only work while the focus is inside the step.
        self.call_after_refresh(self._keep_focus_inside)

    def _keep_focus_inside(self) -> None:
        if not self.display or self.app.screen is not self.screen:
            return   # another step is shown, or a dialog is open
        focused = self.app.focused
        if focused is not None and not focused.disabled and self in focused.ancestors:
            return
        for button in self.query(Button):
            if not button.disabled:
                button.focus()
                return

    # ----- actions ----------------------------------------------------------------------
    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        action = {"start": self.action_start, "stop": self.action_stop,
                  "resume": self.action_resume, "evaluate": self.action_evaluate}.get(event.button.id)
        if action is not None:
            action()

    def _refuse_read_only(self) -> bool:
        """A read-only wizard (another one holds the config) follows runs but starts none:
        its settings are not saved, so the run would not match the config, and the other
        wizard could start one at the same time."""
        if self.state.read_only:
            self.notify(f"Read-only: {self.state.config_path} is held by another wizard. Start "
                        "or resume runs there (tmux attach), or open this folder's config "
                        "with --config other.yaml.", title="Not started", severity="warning")
        return self.state.read_only

    def action_start(self) -> None:
        if self._training:
            self.notify("A run is already training; stop it first.", severity="warning")
            return
        if self._refuse_read_only():
            return
        if self.state.load_problem:
            self.notify(f"{self.state.config_path} could not be read ({self.state.load_problem}); "
                        "fix it before training.", severity="error")
            return
        cfg = copy.deepcopy(self.state.cfg)   # later edits in Configure must not reach this run
        self.dashboard.reset()
        self._launch(cfg, None, f"Preparing a run under {cfg.output_dir} (checking the machine...)")

    def action_resume(self) -> None:
        if self._training or self._refuse_read_only():
            return
        run = self._last_run()
        if run is None:
            self.notify("There is no run to resume: press s to start one.", severity="warning")
            return
        # Show the history first (read on a worker thread); the run starts once it is read,
        # so its new lines are not read twice. It drops what follows its checkpoint.
        follower = None
        if self.in_process:
            self.dashboard.replay(lambda state: state.fold_all(run.read_events()))
        else:
            follower = self._replay_following(run)
        self._launch(None, run.path, f"Resuming {run.path} from its last checkpoint...",
                     after_replay=True, follower=follower)

    def _post_from_trainer(self, event) -> None:
        """Runs on the training thread: hand the event to the app thread, nothing else."""
        self.post_message(TrainingEvent(event))

    def _post_rewound(self, events) -> None:
        """On the supervising thread: a resume rewrote metrics.jsonl (cut after its
        checkpoint); the dashboard shows it again from these events."""
        self.post_message(TrainingRewound(events))

    def on_training_rewound(self, message: TrainingRewound) -> None:
        message.stop()
        events = message.events
        self.dashboard.replay(lambda state: state.fold_all(events))

    def _launch(self, cfg: RunConfig | None, resume: Path | None, status: str,
                after_replay: bool = False, follower: JsonlFollower | None = None) -> None:
        self.runner = None
        self._training, self._stopping, self._quitting = True, False, False
        self._finished_state = None
        self._last_checkpoint = None
        self._set_status(status)
        self._update_buttons()
        if after_replay and self.dashboard.replaying:
            self._launch_after_replay = (cfg, resume, follower)
        else:
            self._train(cfg, resume, follower)

    def on_dashboard_replayed(self, message: Dashboard.Replayed) -> None:
        message.stop()
        if message.error is not None:
            self.notify(f"Could not read the run's history: {message.error}", severity="error")
        attach, self._attach_after_replay = self._attach_after_replay, None
        if attach is not None:
            self._follow(*attach)
            return
        launch, self._launch_after_replay = self._launch_after_replay, None
        if launch is None:
            return
        if not self._stopping:
            self._train(*launch)
            return
        # Stop or Quit came while the history was read: the run was never started.
        self._training = self._stopping = False
        self._set_status("Resume cancelled: press r to resume the run.")
        self._update_buttons()
        if self._quitting:
            self._quitting = False
            self.app.exit(0)

    @work(thread=True, exclusive=True, exit_on_error=False, group="train", description="training")
    def _train(self, cfg: RunConfig | None, resume: Path | None,
               follower: JsonlFollower | None = None) -> RunFinished | None:
        """On the worker thread: start the trainer in its own session (detach.py; there
        core.training.session.start_run plans one process or DDP/FSDP workers, as `ft-tui
        train` does), then supervise it until it ends or this wizard leaves."""
        from ft_tui.core.run.lock import RunInUse
        from ft_tui.core.errors import SetupError

        from ft_tui.core.plan.preflight import check_can_start

        try:   # the preflight `ft-tui train --dry-run` prints; refuses before loading anything
            checked = check_can_start(cfg).text() if cfg is not None else ""
            if self.in_process:
                from ft_tui.core.training.session import start_run

                session = start_run(cfg, resume=resume, on_event=self._post_from_trainer)
            else:
                from ft_tui.core.training.detach import start_detached

                session = start_detached(cfg, resume=resume)
                if follower is not None:
                    session.follower = follower   # goes on where the shown history ended
        except (SetupError, RunDirError, ConfigError, RunInUse, OSError) as exc:
            self.app.call_from_thread(self._not_started, resume, exc)
            return None
        self.app.call_from_thread(self._started, session)
        if checked:
            self.app.call_from_thread(self.notify, checked, title="Preflight", timeout=15)
        if self.in_process:
            return session.run(self._post_from_trainer)
        return session.follow(self._post_from_trainer, self._leave, self._post_rewound)

    @work(thread=True, exclusive=True, exit_on_error=False, group="train", description="training")
    def _follow(self, live) -> RunFinished | None:
        """On the worker thread: supervise a live run found at start-up."""
        self.app.call_from_thread(self._started, live)
        return live.follow(self._post_from_trainer, self._leave, self._post_rewound)

    def _started(self, session) -> None:
        self.runner = session
        self.state.run_dir = str(session.run_dir.path)
        latest = session.run_dir.latest_checkpoint()    # a resumed run has one already
        self._last_checkpoint = str(latest) if latest else None
        self._save_state()
        if session.distributed:
            plan = session.plan
            self._set_status(f"Training in {session.run_dir.path} with {plan.num_processes} processes "
                             f"({plan.strategy}: {plan.reason}); worker output in worker.log")
        elif not self.in_process:
            self._set_status(self._detached_line(session))
        else:
            self._set_status(f"Training in {session.run_dir.path} (loading data and model...)")
        if self._stopping:   # Stop (or leaving the app) came while the run was being prepared
            session.request_stop()
            self._show_stopping()

    @staticmethod
    def _detached_line(run) -> str:
        import shlex

        where = shlex.quote(str(run.run_dir.path))
        return (f"Training in {run.run_dir.path} in its own process ({run.pid}): it goes on if "
                f"this terminal closes. q leaves it running; come back with ft-tui here or "
                f"ft-tui monitor {where}.")

    def _not_started(self, resume: Path | None, exc: BaseException) -> None:
        self._training = self._stopping = False
        if resume is not None:
            self.notify(str(exc), title="Cannot resume", severity="error", timeout=15)
            self._set_status(f"Could not resume {resume}: {exc}")
        else:
            self.notify(f"Could not start the run: {exc}", severity="error", timeout=15)
            self._set_status(f"Could not start the run: {exc}")
        self._update_buttons()
        if self._quitting:
            self._quitting = False
            self.app.exit(0)

    def action_stop(self) -> None:
        if not self._training or self._stopping:
            return

        def answer(stop: bool | None) -> None:
            if stop and self._training:
                self._request_stop()

        self.app.push_screen(ConfirmModal(
            "Stop training? A checkpoint is saved first, and Resume (r) continues from it."),
            answer)

    def _request_stop(self) -> None:
        if self.runner is not None:   # else: _started stops it once it exists
            self.runner.request_stop()
        self._stopping = True
        self._show_stopping()
        self._update_buttons()

    def _show_stopping(self) -> None:
        what = "Quitting" if self._quitting else "Stopping"
        phase = self.dashboard.phase_text
        now = "saving the checkpoint now" if phase == "saving" else (
            f"{phase} step {self.dashboard.step + 1}; saving a checkpoint when it ends")
        line = f"{what}: {now}…"
        if self._quitting and self.detached:
            line += "\nPress q again to close now: the trainer saves its checkpoint anyway."
        elif self._quitting:
            line += "\nPress q again to exit without waiting."
        self._set_status(line)

    def quit_after_saving(self) -> None:
        """Quit confirmed: stop at the next optimizer step, save, then exit the app."""
        if not self._training:
            self.app.exit(0)
            return
        self._quitting = True
        self._request_stop()

    def lost_if_abandoned(self) -> str:
        """What exiting before the checkpoint is written would lose, in one sentence."""
        step = self.dashboard.step
        if self._last_checkpoint:
            run = self.runner.run_dir.path if self.runner is not None else "RUN_DIR"
            return (f"the steps after {Path(self._last_checkpoint).name} (up to step {step}) are "
                    f"lost; ft-tui train --resume {shell_quote(run)} continues from it")
        return f"no checkpoint was saved yet, so all {step} steps are lost"

    def action_zoom(self) -> None:
        self.dashboard.zoom_next()

    def action_unzoom(self) -> None:
        self.dashboard.unzoom()

    def action_evaluate(self) -> None:
        if self._training:
            self.notify("Training is still running.", severity="warning")
            return
        go_to_step(self, "evaluate")

    # ----- messages from the training thread --------------------------------------------
    def on_training_event(self, message: TrainingEvent) -> None:
        message.stop()
        event = message.event
        self.dashboard.handle_event(event)
        if isinstance(event, Checkpoint):
            self._last_checkpoint = event.path
        if isinstance(event, RunFinished):
            self._finished(event)
        elif self._stopping and isinstance(event, Phase):
            self._show_stopping()
        elif isinstance(event, RunStarted) and not self._stopping:
            if self.in_process or self.runner is None:
                self._set_status(f"Training in {event.run_dir} on {event.device or '?'}.")
            else:
                self._set_status(f"{self._detached_line(self.runner)} Device: {event.device or '?'}.")

    def _finished(self, finished: RunFinished) -> None:
        self._training = self._stopping = False
        self._finished_state = finished.state
        run_path = self.runner.run_dir.path if self.runner is not None else Path(self.state.run_dir or "")
        hint = {"done": "press e to evaluate it", "stopped": "press r to resume it",
                "failed": "fix the cause, then r resumes from the last checkpoint"}
        self._set_status(f"Run {finished.state}: {run_path}: {hint.get(finished.state, '')}.")
        self._update_buttons()
        self._notify_terminal(f"ft-tui: run {finished.state}: {run_path.name}")
        if finished.state == "done":
            self.post_message(StepCompleted("train"))
        if self._quitting:
            self._quitting = False
            self.app.exit(0)

    def _notify_terminal(self, text: str) -> None:
        """A run ended while the wizard is open, perhaps in a window behind others: the bell,
        and an OSC 9 desktop notification (iTerm2, kitty, WezTerm, Windows Terminal; other
        terminals ignore it)."""
        if self.app.is_headless or self.app._driver is None:
            return
        self.app.bell()
        clean = "".join(ch for ch in text if ch.isprintable())[:120]
        self.app._driver.write(f"\x1b]9;{clean}\x07")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "train" or event.state not in (WorkerState.ERROR, WorkerState.CANCELLED):
            return
        event.stop()
        if event.state == WorkerState.CANCELLED:
            # Cancelling does not stop a thread (the app is closing): a detached run goes
            # on alone; one in this process is asked to stop.
            self._leave.set()
            if self.runner is not None and self.in_process:
                self.runner.request_stop()
            return
        # The runner turns every failure into a RunFinished; this is the belt to its braces.
        if self._training:
            error = event.worker.error
            finished = RunFinished("failed", self.dashboard.step,
                                   f"training stopped unexpectedly: {type(error).__name__}: {error}")
            self.dashboard.handle_event(finished)
            self._finished(finished)

    def _save_state(self) -> None:
        if self.state.read_only:   # another wizard owns the config; the app says so
            return
        try:
            self.state.save()
        except OSError as exc:
            self.notify(f"Could not save {self.state.config_path}: {exc}", severity="error")

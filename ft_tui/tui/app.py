"""The wizard: six steps in one window, from "should I fine-tune?" to an exported model.

Layout: Header, a Stepper line, a ContentSwitcher holding one view per step, Footer.
The app owns the wizard state (``app.state``): step views change ``state.cfg`` and post
``ConfigChanged``; the app saves it and forwards the change to every view. Keys 1-6 and
the command palette jump to any step; ``?`` shows the current step's help.

The first screen must paint at once (within 0.5 s): a step view's module is imported,
and the view mounted, on its first visit only; no step module imports torch or
transformers, and the heavy work happens in thread workers inside the steps.
"""

from __future__ import annotations

import importlib
import shlex
from contextlib import contextmanager
from typing import Iterable

from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, ContentSwitcher, Footer, Header, Input, Static, TextArea
from textual.worker import Worker, WorkerState

from ft_tui.core.config.wizard_lock import LockHolder, WizardLock
from ft_tui.tui.messages import ConfigChanged, GoToStep, StateChanged, StepCompleted
from ft_tui.tui.state import STEP_IDS, STEPS, WizardState
from ft_tui.tui.widgets.stepper import Stepper

# "module:class" of each step view, imported on the step's first visit.
STEP_VIEWS = {
    "decide": "ft_tui.tui.steps.decide:DecideStep",
    "data": "ft_tui.tui.steps.data:DataStep",
    "hardware": "ft_tui.tui.steps.hardware:HardwareStep",
    "configure": "ft_tui.tui.steps.configure:ConfigureStep",
    "train": "ft_tui.tui.steps.train:TrainStep",
    "evaluate": "ft_tui.tui.steps.evaluate:EvaluateStep",
}
STEP_TITLES = dict(STEPS)


def step_class(step_id: str) -> type[Widget]:
    module, _, name = STEP_VIEWS[step_id].partition(":")
    return getattr(importlib.import_module(module), name)


class FtTuiApp(App[int]):
    CSS_PATH = "app.tcss"
    # Screens under 30 lines (80x24) get the class -short: the views drop what fits no more.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    TITLE = "ft-tui"
    SUB_TITLE = "fine-tuning wizard"

    BINDINGS = [
        Binding("1", "go_to_step('decide')", "Steps", key_display="1-6", tooltip="Jump to a step"),
        Binding("2", "go_to_step('data')", "Data", show=False),
        Binding("3", "go_to_step('hardware')", "Hardware", show=False),
        Binding("4", "go_to_step('configure')", "Configure", show=False),
        Binding("5", "go_to_step('train')", "Train", show=False),
        Binding("6", "go_to_step('evaluate')", "Evaluate", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit_app", "Quit"),
        Binding("ctrl+q", "quit_app", "Quit", show=False, priority=True),
        Binding("ctrl+c", "quit_app", "Quit", show=False),
        Binding("escape", "leave_field", "Leave field"),
    ]

    def __init__(self, config_path: str | None = None, state: WizardState | None = None) -> None:
        super().__init__()
        self.state = state if state is not None else WizardState.load(config_path)
        # One wizard per config: while another holds it, this one is read-only until the
        # user chooses (read-only or quit), so nothing is saved over the other's settings.
        self.config_lock = WizardLock(self.state.config_path)
        self.held_by: LockHolder | None = self._claim_config()
        if self.held_by is not None:
            self.state.read_only = True
            self.sub_title = "READ-ONLY"
        self._told_read_only = False
        self._pending_step: str | None = None    # a step asked for, not yet shown
        self._held_keys: list[events.Key] = []   # keys typed meanwhile, for the new step
        if self._run_trains_on():   # reattach: the live run's dashboard is the first screen
            self.state.current_step = "train"

    def _claim_config(self) -> LockHolder | None:
        try:
            return self.config_lock.claim()
        except OSError:   # an unwritable folder: no lock, and the saves will say why
            return None

    def on_unmount(self) -> None:
        self.config_lock.release()

    def _run_trains_on(self) -> bool:
        """The wizard's last run still trains (this wizard was closed, or its terminal lost),
        or another run under the output folder does (``ft-tui train --detach``): it becomes
        the wizard's run."""
        from ft_tui.core.run.listing import list_runs
        from ft_tui.core.run.rundir import RunDir, RunDirError

        if self.state.run_dir:
            try:
                if RunDir.open(self.state.run_dir).read_state() == "running":
                    return True
            except RunDirError:
                pass
        try:
            live = [r for r in list_runs(self.state.cfg.output_dir) if r.state == "running"]
        except OSError:
            return False
        if live:
            self.state.run_dir = live[0].path
        return bool(live)

    # ----- layout -----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Stepper(id="stepper")
        if self.held_by is not None:
            where = "" if self.held_by.on_this_host else f" on {self.held_by.host}"
            yield Static(f"READ-ONLY (nothing is saved): {self.state.config_path.name} is held "
                         f"by process {self.held_by.pid}{where}", id="read-only", markup=False)
        current = self.state.current_step
        with ContentSwitcher(id="steps", initial=current):
            yield step_class(current)(self.state, id=current)
        yield Footer()

    def on_mount(self) -> None:
        self._refresh_stepper()
        if self.held_by is not None:
            self._ask_read_only()
        if self.state.load_problem:
            self.notify(f"{self.state.config_path} could not be read: {self.state.load_problem}. "
                        "Fix it by hand; the wizard will not overwrite it.",
                        title="Config not loaded", severity="error", timeout=30)
        if self.state.progress_note:
            self.notify(self.state.progress_note, title="Wizard progress not loaded", timeout=15)
        self.call_after_refresh(self._show_step, self.state.current_step)

    def _ask_read_only(self) -> None:
        from ft_tui.tui.screens.config_held import ConfigHeldModal, held_message

        holder, config, lock = self.held_by, self.state.config_path, self.config_lock.path

        def _answer(choice: str | None) -> None:
            if choice != "read-only":
                self.exit(0, message=held_message(holder, config, lock))

        self.push_screen(ConfigHeldModal(holder, config, lock), _answer)

    # ----- navigation -------------------------------------------------------------------
    def step_view(self, step_id: str | None = None) -> Widget | None:
        """The view of a step (the current one by default), or None before its first visit."""
        try:
            return self.query_one(ContentSwitcher).get_child_by_id(
                step_id or self.state.current_step)
        except NoMatches:
            return None

    def step_views(self) -> list[Widget]:
        """The step views visited so far."""
        return list(self.query_one(ContentSwitcher).children)

    async def action_go_to_step(self, step_id: str) -> None:
        if step_id not in STEP_IDS:
            return
        switcher = self.query_one(ContentSwitcher)
        # Keys typed ahead (under lag) are resolved against the focus when they arrive:
        # leave the old view now, before the new one mounts, or they act on a hidden step.
        self._drop_focus_outside(step_id)
        if self.step_view(step_id) is None:
            await switcher.add_content(step_class(step_id)(self.state, id=step_id))
        if step_id != self.state.current_step:
            switcher.current = step_id
            self.state.current_step = step_id
            self._save()
            self._refresh_stepper()
        # After the refresh: the focus chain only knows the new view once it is laid out.
        self.call_after_refresh(self._show_step, step_id)

    def leave_step(self, step_id: str) -> None:
        """A step view is about to post GoToStep(step_id): from now on the keys typed
        ahead are the new step's. The focus leaves the old view at once, and keys that
        arrive before the new view is shown wait for it (see on_key)."""
        self._pending_step = step_id
        self._drop_focus_outside(step_id)

    def _show_step(self, step_id: str) -> None:
        if step_id == self._pending_step:
            self._pending_step = None
        try:
            view = self.step_view(step_id)
            if view is None or step_id != self.state.current_step:
                return  # the user has moved on already
            if view.screen is not self.screen:
                return  # a dialog opened meanwhile: its focus is its own
            show = getattr(view, "on_show_step", None)
            if show is not None:
                show()
            if self.focused is None or view not in self.focused.ancestors:
                self._focus_first_in(view)
        finally:
            self._replay_held_keys()

    def _replay_held_keys(self) -> None:
        if self._pending_step is not None:
            return
        held, self._held_keys = self._held_keys, []
        for key in held:
            self.post_message(events.Key(key.key, key.character))

    def _drop_focus_outside(self, step_id: str) -> None:
        """Blur the wizard screen's focus when it sits in another step's view."""
        screen = self.screen_stack[0]
        focused = screen.focused
        if focused is None:
            return
        for view in self.step_views():
            if view.id != step_id and view in focused.ancestors:
                screen.set_focus(None)
                return

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """A step's worker may focus one of its controls after the user has moved on:
        the focus (and with it the footer's keys) stays with the visible step."""
        widget = event.widget
        if not widget.is_attached or self.screen_stack[0] not in widget.ancestors:
            return
        current = self.step_view()
        for view in self.step_views():
            if view is not current and view in widget.ancestors:
                self._drop_focus_outside(self.state.current_step)
                if current is not None:
                    self.call_after_refresh(self._show_step, self.state.current_step)
                return

    def _focus_first_in(self, view: Widget) -> None:
        """Focus the view's first control that is not a text field, so the step keys
        (1-6, ?, q) work at once; Tab reaches the fields."""
        chain = [w for w in self.screen.focus_chain if view in w.ancestors]
        for widget in chain:
            if not isinstance(widget, (Input, TextArea)):
                widget.focus()
                return
        self.screen.set_focus(None)

    async def on_key(self, event: events.Key) -> None:
        """With nothing focused (a step may disable all its buttons for a moment, e.g. while
        a run stops), the current step's own keys still reach it instead of being lost.

        A text field takes every printable key typed in it, so one that reaches the app while
        a field has the focus was typed ahead, before the field got it (e.g. `/` then a
        setting's name, faster than the screen): it goes into the field, not to a key
        binding of the step behind it. (This handler runs before App's own, which
        resolves the bindings; prevent_default skips that.)"""
        focused = self.focused
        if isinstance(focused, (Input, TextArea)) and event.is_printable:
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        if self.focused is not None or len(self.screen_stack) > 1:   # a field or a dialog has the keys
            return
        if self._pending_step is not None:
            event.stop()    # typed for the step being opened: it gets them once shown
            self._held_keys.append(event)
            return
        view = self.step_view()
        if view is None:
            return
        for binding in getattr(view, "BINDINGS", []):
            if isinstance(binding, Binding) and event.key in binding.key.split(","):
                event.stop()
                await view.run_action(binding.action)
                return

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_field":  # listed in the footer only while typing in a field
            return isinstance(self.focused, (Input, TextArea))
        return True

    def action_leave_field(self) -> None:
        """Escape from a text field, so the step keys work again: to the step's Continue
        button (or its first button), so the footer lists the step's keys; with the focus
        on nothing it would list only the app's."""
        if not isinstance(self.focused, (Input, TextArea)):
            return
        view = self.step_view() if len(self.screen_stack) == 1 else None
        buttons = [] if view is None else [b for b in view.query(Button)
                                           if b.focusable and b.display and b.region.area]
        buttons.sort(key=lambda b: b.id != "continue")
        self.screen.set_focus(buttons[0] if buttons else None)

    def _refresh_stepper(self) -> None:
        self.query_one(Stepper).update_steps(self.state.current_step, self.state.completed)

    # ----- messages from the step views -------------------------------------------------
    @on(StepCompleted)
    def _step_completed(self, message: StepCompleted) -> None:
        if message.step_id in STEP_IDS:
            self.state.mark_done(message.step_id)
            self._save()
            self._refresh_stepper()

    @on(GoToStep)
    async def _go_to(self, message: GoToStep) -> None:
        await self.action_go_to_step(message.step_id)

    @on(StateChanged)
    def _state_changed(self, message: StateChanged) -> None:
        self._save()

    @on(ConfigChanged)
    def _config_changed(self, message: ConfigChanged) -> None:
        if message.forwarded:
            return
        self._save()
        if self.state.read_only and not self._told_read_only:
            self._told_read_only = True
            self.notify(f"Read-only: this change is not saved to {self.state.config_path}. "
                        "For a wizard of your own use ft-tui --config other.yaml.",
                        title="Read-only", severity="warning", timeout=15)
        for view in self.step_views():  # views not visited yet read the state when mounted
            view.post_message(ConfigChanged(forwarded=True))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that failed without its step handling it: say so, never crash."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            err = event.worker.error
            self.notify(f"{type(err).__name__}: {err}", title=f"{event.worker.name} failed",
                        severity="error", timeout=15)

    def _save(self) -> None:
        if self.state.read_only:   # another wizard owns the config: the banner says so
            return
        try:
            self.state.save()
        except OSError as exc:
            self.notify(f"Could not save {self.state.config_path}: {exc}", severity="error")

    # ----- help, palette, quit ----------------------------------------------------------
    def action_help(self) -> None:
        from ft_tui.tui.screens.help_modal import HelpModal  # markdown parser: load on demand

        if isinstance(self.screen, HelpModal):
            return
        view = self.step_view()
        text = getattr(view, "HELP", "") or "No help for this step yet."
        keys = ("\n\n---\n\n**Keys everywhere:** `1`-`6` jump to a step, `?` this help, "
                "`Esc` leaves a text field, `Ctrl+P` the command palette, `q` quits.")
        self.push_screen(HelpModal(STEP_TITLES[self.state.current_step], text + keys))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for number, (step_id, title) in enumerate(STEPS, start=1):
            yield SystemCommand(f"Step {number}: {title}", f"Go to the {title} step (key {number})",
                                lambda s=step_id: self.action_go_to_step(s))
        yield SystemCommand("Help for this step", "What this step does and how (key ?)",
                            self.action_help)

    def train_view(self) -> Widget | None:
        """The Train step's view (a TrainStep), if it has been opened."""
        return self.step_view("train")

    def training_is_running(self) -> bool:
        view = self.train_view()
        return view is not None and bool(view.is_running)

    hung_up = False   # the terminal went away (SIGHUP): run_app closed the wizard

    # True when the app exits while its training thread still runs (run_app then ends
    # the process at once instead of waiting for the thread).
    training_abandoned = False

    async def action_quit_app(self) -> None:
        from ft_tui.tui.screens.confirm import ConfirmModal

        if isinstance(self.screen, ConfirmModal):
            return      # a question is open: answer it first
        if not self.training_is_running():
            self._save()
            self.exit(0)
            return
        view = self.train_view()
        if getattr(view, "detached", False):
            await self._leave_or_stop(view)
            return
        if view.is_quitting:
            def _abandon(exit_now: bool | None) -> None:
                if exit_now and view.is_quitting:
                    self.training_abandoned = True
                    self.exit(0)

            self.push_screen(ConfirmModal(
                f"Exit without waiting for the checkpoint? {view.lost_if_abandoned()}.",
                yes="Exit now", no="Wait"), _abandon)
            return

        async def _answer(quit_now: bool | None) -> None:
            if quit_now:
                self._save()
                await self.action_go_to_step("train")   # where the saving is shown
                view.quit_after_saving()

        self.push_screen(ConfirmModal(
            "A training run is active. Quit? It stops at the next optimizer step (no "
            "evaluation), saves a checkpoint, then the wizard closes; ft-tui train --resume "
            "RUN_DIR continues it later."), _answer)


    async def _leave_or_stop(self, view) -> None:
        """The run trains in its own process: leaving loses nothing, so that is the default."""
        from ft_tui.tui.screens.leave_run import LeaveRunModal

        if view.is_quitting:   # stopping already: the trainer saves its checkpoint alone
            self.exit(0)
            return
        run = view.runner.run_dir.path if view.runner is not None else self.state.run_dir
        come_back = f"ft-tui in this folder, or ft-tui monitor {shlex.quote(str(run))}"

        async def _answer(choice: str | None) -> None:
            if choice == "leave":
                self._save()
                self.exit(0, message=f"The run goes on in its own process: {run}\n"
                                     f"Come back with {come_back}; ft-tui runs lists every run.")
            elif choice == "stop":
                self._save()
                await self.action_go_to_step("train")   # where the saving is shown
                view.quit_after_saving()

        self.push_screen(LeaveRunModal(str(run), come_back), _answer)


def run_app(config_path: str | None = None) -> int:
    """Open the wizard; returns the process exit code."""
    app = FtTuiApp(config_path=config_path)
    with _hangup_closes(app):
        result = app.run()
    if app.training_abandoned:
        # The user chose not to wait for the checkpoint: do not join the training thread.
        import os
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(result or 0))
    return int(result or 0)


@contextmanager
def _hangup_closes(app: FtTuiApp):
    """SIGHUP (the terminal is gone: a dropped SSH connection, a killed tmux session): close
    the wizard as if q was answered "leave", instead of dying mid-write. A training run goes
    on in its own process. An evaluation or export in progress finishes in the background
    (its thread is joined before the process exits; later hang-ups are ignored) and writes
    eval.json, report.md or its folder atomically; killed instead, it keeps the answers
    made so far in the answer cache. The screen's fds go to /dev/null first: the dead
    terminal fails writes."""
    import os
    import signal

    def on_hangup(signum, frame):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        app.hung_up = True
        loop = app._loop   # (the handler may interrupt the loop itself: hand it over safely)
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(app.exit, 0)

    previous = signal.signal(signal.SIGHUP, on_hangup)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)

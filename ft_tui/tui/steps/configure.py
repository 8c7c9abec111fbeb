"""Step 4, Configure: every setting of the run, presets, the YAML and the CLI line.

The form is generated from the config's own field list (help, ranges, choices), so it
never drifts from what ``ft-tui train`` reads. Presets are dotted-key overrides from
``ft_tui.core.config.presets``. The YAML tab shows exactly what is saved; the command tab shows
how to run the same training headless (e.g. under tmux or nohup on a GPU box).
"""

from __future__ import annotations

import shlex

from rich.syntax import Syntax
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static, TabbedContent, TabPane

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.config.presets import PRESETS
from ft_tui.tui.widgets.tab_keys import cycle_tab, tab_bindings
from ft_tui.tui.messages import ConfigChanged, StepCompleted, go_to_step
from ft_tui.tui.state import WizardState
from ft_tui.tui.widgets.config_form import ConfigForm, widget_id


def train_command(cfg: RunConfig, config_path: str) -> str:
    """The headless command that trains exactly this config (it is saved at config_path)."""
    return f"ft-tui train {shlex.quote(str(config_path))}"


def train_command_flags(cfg: RunConfig) -> str:
    """The same run as flags, without the YAML file: the model, data and method, then
    ``--set`` for every other setting that is not at its default (so it is the same run)."""
    from ft_tui.core.config.settings import get_value, iter_fields

    parts = ["ft-tui", "train", "--model", cfg.model.name, "--data", cfg.data.train_path,
             "--method", cfg.method]
    shown = {"model.name", "data.train_path", "method"}
    for info in iter_fields():
        value = get_value(cfg, info.key)
        if info.key in shown or value == info.default:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        parts += ["--set", f"{info.key}={text}"]
    return " ".join(shlex.quote(p) for p in parts)


def matching_preset(cfg: RunConfig) -> str | None:
    """Name of the preset whose every value the config currently has."""
    from ft_tui.core.config.settings import get_value

    for preset in PRESETS.values():
        if all(get_value(cfg, k) == v for k, v in preset.overrides.items()):
            return preset.name
    return None


class ConfigureStep(Container):
    HELP = """\
Every setting of the training run, with its help text and allowed range. A value that
is out of range or of the wrong type is shown in red with the reason, and is not used.

- **Presets** set a group of values at once: *Quick test* (30 steps, to check the whole
  pipeline in a minute or two), *Balanced* (the usual LoRA recipe) and *Quality*
  (more capacity, early stopping). They never change the model, data or method.
- The **YAML** tab shows the config file the wizard saves; `ft-tui train` reads the
  same file, so a run configured here can be started headless on a GPU box.
- The **Command** tab shows that command line.

**Find a setting:** `/` opens the filter; type part of a setting's name or help (e.g.
`steps`, `rank`, `memory`) and only the matching settings stay; `Enter` goes to the first.
An empty filter shows them all again.

**Keys:** `/` filter, `Tab` moves between fields, `Esc` leaves a field, `<`/`>` previous /
next tab (Settings, YAML, Command), `c` continues to Train.
"""

    DEFAULT_CSS = """
    ConfigureStep #presets { height: auto; padding: 0 1; }
    ConfigureStep #presets Button { margin: 0 1 0 0; }
    ConfigureStep #presets Static { width: auto; margin: 0 1 0 0; }
    ConfigureStep #preset-note { color: $text-muted; padding: 0 1; height: auto; }
    ConfigureStep #config-tabs { height: 1fr; }
    ConfigureStep #yaml-scroll, ConfigureStep #command-scroll { padding: 0 1; }
    ConfigureStep #form-problems { color: $text-error; padding: 0 1; height: auto; }
    ConfigureStep #cfg-filter-row { height: 1; padding: 0 1; }
    ConfigureStep #cfg-filter-row Label { width: auto; margin-right: 1; }
    ConfigureStep #cfg-filter { width: 1fr; border: none; height: 1; padding: 0; }
    ConfigureStep #cfg-filter-count { width: auto; color: $text-muted; margin-left: 1; }
    """

    BINDINGS = [Binding("c", "continue", "Continue"),
                Binding("slash", "filter", "Find setting", key_display="/"), *tab_bindings()]

    def __init__(self, state: WizardState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state

    def compose(self) -> ComposeResult:
        with Horizontal(id="presets"):
            yield Static("Presets:", classes="muted")
            for preset in PRESETS.values():
                yield Button(preset.title, id=f"preset-{preset.name}", compact=True)
            yield Button("Continue (c)", id="continue", variant="primary", compact=True)
        yield Static(id="preset-note")
        yield Static(id="form-problems")
        with TabbedContent(id="config-tabs"):
            with TabPane("Settings", id="tab-settings"):
                with Horizontal(id="cfg-filter-row"):
                    yield Label("Find:")
                    yield Input(placeholder="press / and type part of a setting's name or help",
                                id="cfg-filter", compact=True)
                    yield Static(id="cfg-filter-count")
                yield ConfigForm(self.state, id="config-form")
            with TabPane("YAML", id="tab-yaml"):
                with VerticalScroll(id="yaml-scroll"):
                    yield Static(id="yaml-preview")
            with TabPane("Command", id="tab-command"):
                with VerticalScroll(id="command-scroll"):
                    yield Static(id="command-preview")

    def on_mount(self) -> None:
        self._refresh_previews()

    def on_show_step(self) -> None:
        self.form.ensure_built()
        self.form.sync_from_config()
        self._refresh_previews()

    @property
    def form(self) -> ConfigForm:
        return self.query_one(ConfigForm)

    # ----- events -----------------------------------------------------------------------
    def on_config_changed(self, message: ConfigChanged) -> None:
        if message.forwarded:
            self.form.sync_from_config()
            self._refresh_previews()

    def on_config_form_validated(self, message: ConfigForm.Validated) -> None:
        self._refresh_problems()

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or ""
        if button_id.startswith("preset-"):
            self.apply_preset(button_id.removeprefix("preset-"))
        elif button_id == "continue":
            self.action_continue()

    def apply_preset(self, name: str) -> None:
        preset = PRESETS[name]
        self.state.cfg = self.state.cfg.with_overrides(preset.overrides)
        self.form.sync_from_config()
        self.post_message(ConfigChanged())
        self.notify(preset.description, title=f"Preset applied: {preset.title}")

    # ----- the filter -------------------------------------------------------------------
    def action_filter(self) -> None:
        """Open the filter line above the settings and put the cursor in it."""
        self.query_one("#config-tabs", TabbedContent).active = "tab-settings"
        self.form.ensure_built()
        # At once, not after a refresh (focus() waits in the queue behind keys typed ahead).
        self.screen.set_focus(self.query_one("#cfg-filter", Input))

    @on(Input.Changed, "#cfg-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        keys = self.form.filter(event.value)
        count = self.query_one("#cfg-filter-count", Static)
        if not event.value.strip():
            count.update(f"all {len(keys)}")
        else:
            count.update(f"{len(keys)} match" if keys else "none match")
        self.form.scroll_home(animate=False)

    @on(Input.Submitted, "#cfg-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        """Enter: to the first matching setting's control."""
        event.stop()
        keys = self.form.filter(event.value)
        if not keys:
            self.app.bell()
            return
        control = self.form.query_one(f"#{widget_id(keys[0])}")
        control.focus()
        self.form.scroll_to_widget(control, animate=False)

    def action_tab(self, delta: int) -> None:
        cycle_tab(self.query_one("#config-tabs", TabbedContent), delta)

    def action_continue(self) -> None:
        problems = self.form.errors
        if problems:
            first = next(iter(problems.values()))
            self.notify(f"{len(problems)} setting(s) need fixing first: {first}",
                        title="Not yet", severity="error")
            return
        self.post_message(StepCompleted("configure"))
        go_to_step(self, "train")

    # ----- previews ---------------------------------------------------------------------
    def _refresh_problems(self) -> None:
        problems = self.form.errors
        line = self.query_one("#form-problems", Static)
        line.update(f"✗ {len(problems)} setting(s) refused; the YAML keeps their last valid "
                    "values." if problems else "")
        line.display = bool(problems)

    def _refresh_previews(self) -> None:
        cfg = self.state.cfg
        name = matching_preset(cfg)
        note = (f"Current values match the {PRESETS[name].title} preset. " if name
                else "Custom values. ")
        note += (f"Effective batch {cfg.effective_batch}; method {cfg.method}; "
                 f"model {cfg.model.name}.")
        self.query_one("#preset-note", Static).update(note)
        self._refresh_problems()
        self.query_one("#yaml-preview", Static).update(
            Syntax(cfg.to_yaml(), "yaml", theme="ansi_dark", word_wrap=True))
        path = str(self.state.config_path)
        saved = (f"Saved to {path}; train the same run headless with:\n\n"
                 f"  {train_command(cfg, path)}\n\n")
        if self.state.read_only:   # the file holds the other wizard's values, not these
            saved = (f"Not saved: this wizard is read-only (another one holds {path}). "
                     "Train these values headless with the flags below.\n\n")
        self.query_one("#command-preview", Static).update(
            saved + "Over SSH, start it inside tmux (or with nohup) and watch it with\n"
            "`ft-tui monitor RUN_DIR`; leaving does not stop the run.\n\n"
            "The same run as flags (every setting not at its default):\n\n"
            f"  {train_command_flags(cfg)}\n")

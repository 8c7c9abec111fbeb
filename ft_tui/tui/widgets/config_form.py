"""A form for the run config, generated from ``iter_fields()``.

One row per setting: its name, then a checkbox for booleans, a drop-down for fixed
choices or a text field; under it, the setting's own help text, or the validator's
message while the value is wrong. (Four widgets a setting and no more: the form has ~45
settings and every widget costs layout time.) Each valid edit goes straight into
``state.cfg`` and posts ``ConfigChanged``; an invalid one leaves the config as it was.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from ft_tui.core.config.settings import ConfigError, FieldInfo, RunConfig, coerce, get_value, iter_fields
from ft_tui.tui.messages import ConfigChanged
from ft_tui.tui.state import WizardState

# Section titles and notes come from the config's own top-level help.
_SECTION_HELP = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(RunConfig)}


# Settings that only matter for some objectives: hidden (with their section heading)
# unless the config's objective is one of these.
OBJECTIVE_ONLY = {"preference": ("dpo", "kto", "orpo"),
                  "preference.desirable_weight": ("kto",),
                  "preference.undesirable_weight": ("kto",)}


def shown_for(key: str, objective: str) -> bool:
    """Whether the setting (or section) ``key`` applies to ``objective``."""
    for prefix, objectives in OBJECTIVE_ONLY.items():
        if (key == prefix or key.startswith(prefix + ".")) and objective not in objectives:
            return False
    return True


def widget_id(key: str) -> str:
    """DOM id of a setting's control (ids may not contain dots)."""
    return "cfg-" + key.replace(".", "--")


def _on_off(value: Any) -> str:
    return "on" if value else "off"


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def validate(cfg: RunConfig, info: FieldInfo, raw: Any) -> tuple[RunConfig | None, str | None]:
    """The config with this one value changed, or the reason the value is refused."""
    try:
        value = coerce(info, raw)
        return cfg.with_overrides({info.key: value}), None
    except ConfigError as exc:
        mine = [p for p in exc.problems if p.startswith(info.key + ":")]
        return None, "; ".join(mine or exc.problems)
    except ValueError as exc:
        return None, str(exc)


class ConfigForm(VerticalScroll):
    class Validated(Message):
        """A value was checked; ``problem`` is None when it was accepted."""

        def __init__(self, key: str, problem: str | None) -> None:
            super().__init__()
            self.key = key
            self.problem = problem

    DEFAULT_CSS = """
    ConfigForm { height: 1fr; padding: 0 1; }
    ConfigForm .cfg-section { text-style: bold underline; color: $text-primary; margin: 1 0 0 0; }
    ConfigForm .cfg-section-help { color: $text-muted; }
    ConfigForm .cfg-row { height: auto; }
    ConfigForm .cfg-name { width: 33; text-style: bold; padding: 0 1 0 0; }  /* the longest name, uncut */
    ConfigForm .cfg-control { width: 1fr; }
    ConfigForm Input.cfg-control { border: none; height: 1; padding: 0 1; }
    ConfigForm Input.-invalid { background: $error 30%; }
    ConfigForm Checkbox.cfg-control { width: auto; }
    ConfigForm .cfg-help { color: $text-muted; padding: 0 0 0 2; }
    ConfigForm .cfg-help.-invalid { color: $text-error; text-style: bold; }
    """

    def __init__(self, state: WizardState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.fields = {info.key: info for info in iter_fields()}
        self.errors: dict[str, str] = {}
        """Settings whose on-screen value is refused, with the reason."""
        self.own_cfg: RunConfig | None = None
        """The config this form last stored, to tell its own edits from other steps'."""
        self._built = False
        self.filter_text = ""
        """Only settings whose name or help contains this are shown (empty: all)."""

    def compose(self) -> ComposeResult:
        # The rows (~200 widgets) are mounted on first show, not at app start: mounting
        # them would delay the first paint of the whole wizard by most of a second.
        yield Static("Loading the settings…", classes="cfg-section-help", id="cfg-loading")

    @property
    def built(self) -> bool:
        return self._built

    def ensure_built(self) -> None:
        """Mount one row per setting, showing the current config (once)."""
        if self._built:
            return
        self._built = True
        self.query_one("#cfg-loading").remove()
        self.mount_all(self._rows())
        self.own_cfg = self.state.cfg

    def _rows(self) -> list[Widget]:
        rows: list[Widget] = []
        section = None
        for info in self.fields.values():
            # Top-level settings: the method gets its own heading, the rest are "output".
            name = info.key.split(".")[0] if "." in info.key else (
                "method" if info.key == "method" else "output")
            if name != section:
                section = name
                rows.append(self._gated(Static(name, classes="cfg-section"), name))
                if name != "method" and _SECTION_HELP.get(name):
                    rows.append(self._gated(Static(Text(_SECTION_HELP[name]),
                                                   classes="cfg-section-help"), name))
            row = Horizontal(Label(info.key, classes="cfg-name"),
                             self._control(info, get_value(self.state.cfg, info.key)),
                             classes="cfg-row")
            help_line = Static(Text(self._help_line(info)), classes="cfg-help",
                               id=widget_id(info.key) + "-help")
            for widget in (row, help_line):
                widget.setting_key = info.key
                rows.append(self._gated(widget, info.key))
        return rows

    def _gated(self, widget: Widget, key: str) -> Widget:
        """Mark a row that only some objectives use, and show it only for those."""
        if not shown_for(key, "dpo") or not shown_for(key, "kto") or not shown_for(key, "sft"):
            widget.add_class("cfg-gated")
            widget.gate_key = key
            widget.display = shown_for(key, self.state.cfg.objective)
        return widget

    def show_for_objective(self) -> None:
        """Show the DPO/KTO settings only when the objective is a preference one, and
        only the settings the filter matches."""
        objective = self.state.cfg.objective
        for widget in self.children:
            gate = getattr(widget, "gate_key", None)
            shown = gate is None or shown_for(gate, objective)
            key = getattr(widget, "setting_key", None)
            if self.filter_text:   # headings go while filtering: the rows name their section
                shown = shown and key is not None and self.matches(key)
            widget.display = shown

    def matches(self, key: str) -> bool:
        """Whether a setting's name or help contains the filter text."""
        info = self.fields[key]
        return self.filter_text in f"{info.key} {info.help}".lower()

    def filter(self, text: str) -> list[str]:
        """Show only the settings matching ``text``; returns their keys, in form order."""
        self.filter_text = text.strip().lower()
        self.show_for_objective()
        objective = self.state.cfg.objective
        return [key for key in self.fields
                if shown_for(key, objective) and (not self.filter_text or self.matches(key))]

    @staticmethod
    def _help_line(info: FieldInfo) -> str:
        extra = ""
        if info.min is not None and info.max is not None:
            extra = f" [{format_value(info.min)}..{format_value(info.max)}]"
        return info.help + extra

    @staticmethod
    def _control(info: FieldInfo, value: Any) -> Widget:
        wid = widget_id(info.key)
        if info.type is bool:
            # A checkbox labelled on/off: the state reads without colour (NO_COLOR).
            return Checkbox(_on_off(value), bool(value), id=wid, classes="cfg-control",
                            compact=True)
        if info.choices:
            return Select([(str(c), c) for c in info.choices], value=value, allow_blank=False,
                          id=wid, classes="cfg-control", compact=True)
        return Input(format_value(value), id=wid, classes="cfg-control", compact=True,
                     select_on_focus=False)

    # ----- edits ------------------------------------------------------------------------
    def _key_of(self, widget: Widget) -> str | None:
        if widget.id and widget.id.startswith("cfg-"):
            key = widget.id[4:].replace("--", ".")
            return key if key in self.fields else None
        return None

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _edited(self, event: Input.Changed | Select.Changed | Checkbox.Changed) -> None:
        event.stop()
        widget = event.control
        key = self._key_of(widget)
        if key is None:
            return
        if isinstance(widget, Checkbox):
            widget.label = _on_off(event.value)
        if isinstance(event, Select.Changed) and event.value is Select.NULL:
            return
        if key not in self.errors and self._shows_config_value(key, event.value):
            return  # e.g. the controls reporting their first value: nothing to check
        self.apply(key, event.value)

    def _shows_config_value(self, key: str, raw: Any) -> bool:
        try:
            return coerce(self.fields[key], raw) == get_value(self.state.cfg, key)
        except ValueError:
            return False

    def apply(self, key: str, raw: Any) -> bool:
        """Validate one value; store it in the config when it is valid."""
        info = self.fields[key]
        new_cfg, problem = validate(self.state.cfg, info, raw)
        self._show_problem(key, problem)
        self.post_message(self.Validated(key, problem))
        if new_cfg is None:
            return False
        if new_cfg != self.state.cfg:
            self.state.cfg = self.own_cfg = new_cfg
            self.show_for_objective()
            self.post_message(ConfigChanged())
        return True

    def _show_problem(self, key: str, problem: str | None) -> None:
        """The validator's message in place of the help text, or the help back."""
        help_line = self.query_one(f"#{widget_id(key)}-help", Static)
        control = self.query_one(f"#{widget_id(key)}")
        if problem:
            self.errors[key] = problem
            help_line.update(Text(f"✗ {problem}"))
        elif help_line.has_class("-invalid"):
            self.errors.pop(key, None)
            help_line.update(Text(self._help_line(self.fields[key])))
        help_line.set_class(bool(problem), "-invalid")
        control.set_class(bool(problem), "-invalid")

    # ----- showing the config -----------------------------------------------------------
    def sync_from_config(self) -> None:
        """Show ``state.cfg`` in every control whose shown value differs from it. A change
        made elsewhere wins over a refused value still on screen."""
        cfg = self.state.cfg
        if not self._built or cfg is self.own_cfg:
            return  # rows not built yet (they will show cfg), or this form made the change
        for key, info in self.fields.items():
            value = get_value(cfg, key)
            control = self.query_one(f"#{widget_id(key)}")
            if isinstance(control, Checkbox):
                control.value = bool(value)
            elif isinstance(control, Select):
                if control.value != value:
                    control.value = value
            elif isinstance(control, Input):
                try:
                    shown = coerce(info, control.value)
                except ValueError:
                    shown = None
                if shown != value or key in self.errors:
                    control.value = format_value(value)
            if key in self.errors:
                self._show_problem(key, None)
        self.own_cfg = cfg
        self.show_for_objective()

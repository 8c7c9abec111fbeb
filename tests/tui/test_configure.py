"""The Configure step: every field validated inline, presets, YAML and command previews."""

import pytest
from textual.widgets import Checkbox, Input, Select, Static

from ft_tui.core.config.settings import RunConfig, iter_fields
from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.messages import ConfigChanged, StepCompleted
from ft_tui.tui.steps.configure import ConfigureStep
from ft_tui.tui.widgets.config_form import ConfigForm, widget_id
from tests.tui.render_text import plain

pytestmark = pytest.mark.anyio


@pytest.fixture()
def config_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path / "ft-tui.yaml"


def _changes(messages):
    return [m for m in messages if isinstance(m, ConfigChanged) and not m.forwarded]


async def test_form_has_a_control_and_the_help_for_every_config_field(config_path):
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        form = app.query_one(ConfigForm)
        for info in iter_fields():
            control = form.query_one(f"#{widget_id(info.key)}")
            expected = Checkbox if info.type is bool else Select if info.choices else Input
            assert isinstance(control, expected), info.key
            help_text = plain(form.query_one(f"#{widget_id(info.key)}-help", Static))
            assert info.help.split()[0] in help_text


async def test_a_bad_value_is_refused_inline_and_a_good_one_is_saved(config_path):
    messages = []
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36), message_hook=messages.append) as pilot:
        await pilot.press("4")
        step = app.query_one(ConfigureStep)
        lr = step.query_one(f"#{widget_id('training.learning_rate')}", Input)
        error = step.query_one(f"#{widget_id('training.learning_rate')}-help", Static)

        lr.value = "0.5"   # above the 1e-3 maximum
        await pilot.pause()
        assert "out of range" in plain(error) and "0.001" in plain(error)
        assert error.has_class("-invalid") and lr.has_class("-invalid")
        assert app.state.cfg.training.learning_rate == 2e-4   # unchanged
        assert not _changes(messages)
        assert "refused" in plain(step.query_one("#form-problems", Static))

        await pilot.press("c")   # continue is blocked while a field is wrong
        assert not any(isinstance(m, StepCompleted) for m in messages)

        lr.focus()
        lr.value = ""
        await pilot.press(*"abc")
        assert "expected a number" in plain(error)

        lr.value = "1e-4"
        await pilot.pause()
        assert not error.has_class("-invalid")
        assert "Peak learning rate" in plain(error)   # the help text is back
        assert app.state.cfg.training.learning_rate == 1e-4
        assert _changes(messages)
        assert "learning_rate: 0.0001" in plain(step.query_one("#yaml-preview", Static))
    assert RunConfig.load(config_path).training.learning_rate == 1e-4


async def test_choices_and_booleans_write_the_config(config_path):
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        step = app.query_one(ConfigureStep)
        step.query_one(f"#{widget_id('method')}", Select).value = "qlora"
        box = step.query_one(f"#{widget_id('training.packing')}", Checkbox)
        box.value = True
        await pilot.pause()
        assert app.state.cfg.method == "qlora"
        assert app.state.cfg.training.packing is True
        assert str(box.label) == "on"   # readable without colour


async def test_presets_fill_the_form_and_the_quick_test_gives_30_steps(config_path):
    messages = []
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36), message_hook=messages.append) as pilot:
        await pilot.press("4")
        step = app.query_one(ConfigureStep)
        await pilot.click(step.query_one("#preset-quick_test"))
        await pilot.pause()
        assert app.state.cfg.training.max_steps == 30
        assert step.query_one(f"#{widget_id('training.max_steps')}", Input).value == "30"
        assert "Quick test preset" in plain(step.query_one("#preset-note", Static))
        assert _changes(messages)

        step.apply_preset("quality")
        await pilot.pause()
        assert app.state.cfg.lora.r == 32
        assert step.query_one(f"#{widget_id('lora.r')}", Input).value == "32"
        assert app.state.cfg.model.name == "default"   # presets leave the model alone

        await pilot.press("c")
        await pilot.pause()
    assert any(isinstance(m, StepCompleted) and m.step_id == "configure" for m in messages)
    assert RunConfig.load(config_path).lora.r == 32


async def test_command_tab_shows_the_headless_command_for_the_saved_config(config_path):
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        step = app.query_one(ConfigureStep)
        step.apply_preset("quick_test")
        await pilot.pause()
        text = plain(step.query_one("#command-preview", Static))
        assert f"ft-tui train {config_path}" in text
        assert "--set training.max_steps=30" in text


async def test_a_change_made_by_another_step_shows_up_in_the_form(config_path):
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        app.state.cfg = app.state.cfg.with_overrides({"training.batch_size": 2})
        app.query_one("#decide").post_message(ConfigChanged())
        await pilot.pause()
        step = app.query_one(ConfigureStep)
        assert step.query_one(f"#{widget_id('training.batch_size')}", Input).value == "2"


async def test_dpo_settings_are_grouped_and_shown_only_for_a_preference_objective(config_path):
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        form = app.query_one(ConfigForm)
        keys = ("preference.beta", "preference.loss_type", "preference.reference",
                "preference.init_adapter")

        def visible(key):
            return form.query_one(f"#{widget_id(key)}").parent.display

        heading = [w for w in form.query(".cfg-section") if plain(w).strip() == "preference"]
        assert len(heading) == 1 and not heading[0].display     # SFT: no DPO settings
        assert not any(visible(k) for k in keys)

        objective = form.query_one(f"#{widget_id('objective')}", Select)
        objective.value = "dpo"
        await pilot.pause()
        assert app.state.cfg.objective == "dpo"
        assert heading[0].display and all(visible(k) for k in keys)
        assert "reference" in plain(form.query_one(f"#{widget_id('preference.reference')}-help"))
        assert not visible("preference.desirable_weight")        # KTO only

        beta = form.query_one(f"#{widget_id('preference.beta')}", Input)
        beta.value = "0.3"
        await pilot.pause()
        assert app.state.cfg.preference.beta == 0.3

        app.state.cfg = app.state.cfg.with_overrides({"objective": "sft"})   # e.g. Decide
        form.sync_from_config()
        await pilot.pause()
        assert not heading[0].display and not any(visible(k) for k in keys)


async def test_tab_bar_has_keys_and_the_footer_says_so(config_path):
    """'>' and '<' move between Settings, YAML and Command without cycling focus."""
    from textual.widgets import TabbedContent

    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        app.screen.set_focus(None)
        tabs = app.query_one("#config-tabs", TabbedContent)
        assert tabs.active == "tab-settings"
        await pilot.press("greater_than_sign")
        assert tabs.active == "tab-yaml"
        await pilot.press("greater_than_sign", "greater_than_sign")
        assert tabs.active == "tab-settings"                   # wraps around
        await pilot.press("less_than_sign")
        assert tabs.active == "tab-command"
        from textual.widgets import Button
        app.query_one(ConfigureStep).query(Button).first().focus()   # the footer follows focus
        await pilot.pause()
        shown = [b.binding.key_display for b in app.screen.active_bindings.values() if b.binding.show]
        assert "< >" in shown


async def test_slash_filters_the_settings_and_enter_goes_to_the_first_match(config_path):
    # Reaching a setting took 22-30 Tabs; `/` and a few letters of its name or help do it.
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("slash", *"adapter rank")
        form = app.query_one(ConfigForm)
        shown = {w.setting_key for w in form.children
                 if getattr(w, "setting_key", None) and w.display}
        assert shown == {"lora.r"}                       # matched by its help text
        assert not any(w.display for w in form.query(".cfg-section"))
        assert "1 match" in plain(app.query_one("#cfg-filter-count", Static))
        await pilot.press("enter")
        assert app.focused is form.query_one(f"#{widget_id('lora.r')}", Input)
        await pilot.press("end", "backspace", "backspace", "8")
        await pilot.pause()
        assert app.state.cfg.lora.r == 8

        await pilot.press("escape", "slash", "ctrl+u", *"target")
        await pilot.press("enter")
        target = form.query_one(f"#{widget_id('lora.target_modules')}", Input)
        assert app.focused is target
        target.value = "10"                               # a stray number is not a module name
        await pilot.pause()
        assert "not a module name" in plain(form.query_one(f"#{widget_id('lora.target_modules')}-help", Static))
        assert app.state.cfg.lora.target_modules == "all-linear"

        await pilot.press("escape", "slash", "ctrl+u")   # an empty filter shows every setting
        await pilot.pause()
        assert all(w.display for w in form.query(".cfg-row")
                   if not w.has_class("cfg-gated"))


async def test_escape_from_a_field_keeps_the_steps_keys_in_the_footer(config_path):
    # In tmux, Esc from a setting left the focus on nothing: the footer fell back to
    # "1-6 Steps ? Help q Quit", hiding `c` and `/`.
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("slash", *"max_st", "enter", "escape")
        await pilot.pause()
        shown = {b.binding.action for b in app.screen.active_bindings.values() if b.binding.show}
        assert {"continue", "filter"} <= shown
        assert app.focused is app.query_one("#continue")


def test_the_command_tab_flags_rebuild_exactly_the_configured_run():
    # The flags line left settings out, so it was not the same run.
    import shlex

    from ft_tui.commands.train import parse_set_values
    from ft_tui.tui.steps.configure import train_command_flags

    cfg = RunConfig().with_overrides({
        "lora.r": 8, "data.system_prompt": "Answer with one code, e.g. 'HW-01'.",
        "training.packing": True, "training.learning_rate": 1e-4, "objective": "dpo",
        "method": "qlora", "data.max_length": 256, "eval.few_shot": 3})
    words = shlex.split(train_command_flags(cfg))
    flags = dict(zip(words[2::2], words[3::2]))
    sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    rebuilt = RunConfig().with_overrides({"model.name": flags["--model"],
                                          "data.train_path": flags["--data"],
                                          "method": flags["--method"], **parse_set_values(sets)})
    assert rebuilt == cfg

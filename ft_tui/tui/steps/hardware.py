"""Step 3, Hardware: will it fit, and with which method?

The machine table refreshes every second while the step is on screen (NVML through
``core.hardware.probe``, no torch). Choosing a model profiles it without loading
weights, estimates peak memory for full / LoRA / QLoRA, and asks the recommender for
settings; Apply writes them into the run config.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, ProgressBar, Select, Static

from ft_tui.tui.messages import ConfigChanged, StepCompleted, go_to_step
from ft_tui.tui.steps import hardware_work
from ft_tui.tui.state import WizardState
from ft_tui.tui.widgets.memory_bars import MemoryBars

MODEL_KINDS = (("Default: SmolLM2-135M-Instruct", "default"),
               ("Local folder or .gguf file", "local"),
               ("Hugging Face hub id (org/name)", "hub"))


class HardwareStep(Container):
    HELP = """\
What this machine has, and what each training method needs on it.

- **Machine:** every NVIDIA GPU with its used memory and utilisation, refreshed every
  second, plus RAM. Without a GPU it says why (no driver, no NVML); training then runs
  on the CPU, which is fine for small models such as the default one.
- **Model:** the embedded default (SmolLM2-135M-Instruct), a local folder or `.gguf`
  file, or a Hugging Face hub id (org/name). A hub model not yet in your cache is
  described first (parameters, size, gated, licence, chat template), then downloaded
  once with a progress bar; *Cancel download* stops it and the next try resumes.
- **Memory:** peak training memory for full fine-tuning, LoRA and QLoRA, split into
  its parts, as bars against the memory there is. Type a size in *Plan for GB* to ask
  "what would I need to rent?".
- **Recommendation:** settings that fit, with the reason for each. *Apply* writes them
  into the run config (you can still change them in Configure).

**Keys:** `a` apply the recommendation, `c` continue to Configure.
"""

    DEFAULT_CSS = """
    HardwareStep #hw-scroll { padding: 0 1; }
    HardwareStep #machine { height: auto; }
    HardwareStep #model-kind { width: 34; }
    HardwareStep #model-row, HardwareStep #plan-row { height: auto; }
    HardwareStep #plan-row Static { width: auto; }
    HardwareStep #model-name { width: 1fr; }
    HardwareStep #gpu-gb { width: 12; }
    HardwareStep #model-row Button, HardwareStep #plan-row Button { margin: 0 0 0 1; }
    HardwareStep #model-info { height: auto; color: $text-muted; }
    HardwareStep #download-row { height: auto; display: none; }
    HardwareStep #download-row.active { display: block; }
    HardwareStep #download-row ProgressBar { width: 1fr; }
    HardwareStep #recommendation { height: auto; }
    """

    BINDINGS = [
        Binding("a", "apply", "Apply recommendation"),
        Binding("c", "continue", "Continue"),
    ]

    class Planned(Message):
        """The planning worker's result: a profile, estimates and a recommendation."""

        def __init__(self, generation: int, model: str, result: dict[str, Any] | None = None,
                     error: str | None = None) -> None:
            super().__init__()
            self.generation = generation
            self.model = model
            self.result = result
            self.error = error

    def __init__(self, state: WizardState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.generation = 0
        self.plan: dict[str, Any] | None = None
        self.planned_key: tuple | None = None
        self.hardware = None
        self.cancel_download = threading.Event()

    def compose(self) -> ComposeResult:
        name = self.state.cfg.model.name
        kind = hardware_work.model_kind(name)
        with VerticalScroll(id="hw-scroll"):
            yield Static("Machine", classes="section-title")
            yield Static("Probing…", id="machine")
            yield Static("Model", classes="section-title")
            with Horizontal(id="model-row"):
                # No type-to-search: the step's letter keys (a, c) must keep working.
                yield Select(MODEL_KINDS, value=kind, allow_blank=False, id="model-kind",
                             compact=True, type_to_search=False)
                yield Input("" if kind == "default" else name, id="model-name", compact=True,
                            placeholder="folder, .gguf file or org/name",
                            disabled=kind == "default")
                yield Button("Use model", id="use-model", compact=True)
            yield Static(id="model-info")
            with Horizontal(id="download-row"):
                yield ProgressBar(id="download", show_eta=False)
                yield Button("Cancel download", id="cancel-download", compact=True)
            yield Static("Memory needed to train", classes="section-title")
            with Horizontal(id="plan-row"):
                yield Static("Plan for GB (empty: this machine): ", classes="muted")
                yield Input("", id="gpu-gb", compact=True, type="number", placeholder="e.g. 24")
                yield Button("Re-plan", id="replan", compact=True)
            yield MemoryBars("Choose a model to estimate memory.", id="memory")
            yield Static("Recommended settings", classes="section-title")
            yield Static(id="recommendation")
            with Horizontal(classes="button-row"):
                yield Button("Apply to run config (a)", id="apply", variant="success",
                             compact=True, disabled=True)
                yield Button("Continue to Configure (c)", id="continue", variant="primary",
                             compact=True)

    def on_mount(self) -> None:
        self.machine_timer = self.set_interval(1.0, self._refresh_machine)

    def on_show_step(self) -> None:
        self._refresh_machine()
        if self._plan_key(self.state.cfg.model.name) != self.planned_key:
            self.replan()

    def on_config_changed(self, message: ConfigChanged) -> None:
        if message.forwarded and self.display and self.is_mounted:
            self.on_show_step()

    # ----- machine ----------------------------------------------------------------------
    def _refresh_machine(self) -> None:
        if not self.display:
            return  # off screen: no need to poll NVML
        self.hardware = hardware_work.probe_machine(self.state.cfg.output_dir)
        self.query_one("#machine", Static).update(hardware_work.machine_table(self.hardware))

    # ----- model choice -----------------------------------------------------------------
    @on(Select.Changed, "#model-kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        event.stop()
        kind = event.value
        name_input = self.query_one("#model-name", Input)
        name_input.disabled = kind == "default"
        if kind == hardware_work.model_kind(self.state.cfg.model.name):
            return  # the choice already in the config (also posted when the step mounts)
        if kind == "default":
            self.use_model("default")
        else:
            name_input.value = ""
            name_input.focus()

    @on(Input.Submitted, "#model-name")
    def _model_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.use_model(event.value.strip())

    @on(Input.Submitted, "#gpu-gb")
    def _gpu_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.replan()

    def use_model(self, name: str) -> None:
        if not name:
            self.query_one("#model-info", Static).update(
                Text("✗ Enter a folder, a .gguf file or a hub id like org/name.", style="bold"))
            return
        self.replan(name)

    def _gpu_gb(self) -> float | None:
        raw = self.query_one("#gpu-gb", Input).value.strip()
        try:
            value = float(raw) if raw else None
        except ValueError:
            value = None
        return value if value and value > 0 else None

    def _plan_key(self, name: str) -> tuple:
        cfg = self.state.cfg
        return (name, self._gpu_gb(), cfg.training.batch_size, cfg.data.max_length,
                cfg.training.gradient_checkpointing, cfg.lora.r, cfg.objective,
                cfg.preference.reference)

    def replan(self, name: str | None = None) -> None:
        name = name or self.state.cfg.model.name
        self.generation += 1
        self.cancel_download.set()   # a download for the model chosen before stops (and resumes later)
        self.cancel_download = threading.Event()
        self.planned_key = self._plan_key(name)
        self.query_one("#memory", MemoryBars).show_message(f"Estimating memory for {name} …")
        cfg = self.state.cfg
        self._plan_worker(self.generation, name, self._gpu_gb(), cfg, self._token_stats(),
                          self.cancel_download)

    def _token_stats(self) -> dict | None:
        """Token lengths from the Data step's last report, when it has them; after a
        relaunch, those it measured on the same file with the same model."""
        for view in self.app.query("#data"):
            report = getattr(view, "report", None)
            if report and report.get("tokens"):
                return report["tokens"]
        from ft_tui.core.paths import resolve_data_path
        from ft_tui.core.wizard_file import remembered_token_stats

        cfg = self.state.cfg
        return remembered_token_stats(self.state.data_tokens,
                                      resolve_data_path(cfg.data.train_path), cfg.model.name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan",
          description="estimating memory")
    def _plan_worker(self, generation: int, name: str, gpu_gb: float | None, cfg,
                     token_stats: dict | None, cancel: threading.Event) -> None:
        from ft_tui.core.models.hub import DownloadCancelled

        try:
            hardware_work.fetch_hub_model(
                name, cfg, cancel=cancel,
                on_info=lambda line: self.post_message(self.Fetching(generation, line)),
                on_progress=lambda done, total, line: self.post_message(
                    self.Fetching(generation, line, done, total)))
            result = hardware_work.plan(name, cfg, gpu_gb, token_stats)
        except DownloadCancelled as exc:
            self.post_message(self.Planned(generation, name, error=str(exc)))
            return
        except hardware_work.PLAN_ERRORS as exc:
            self.post_message(self.Planned(generation, name, error=str(exc)))
            return
        self.post_message(self.Planned(generation, name, result=result))

    class Fetching(Message):
        """A hub model being fetched: what it is (no total yet), then its progress."""

        def __init__(self, generation: int, line: str, done: int = 0, total: int | None = None):
            super().__init__()
            self.generation, self.line, self.done, self.total = generation, line, done, total

    @on(Fetching)
    def _fetching(self, message: Fetching) -> None:
        message.stop()
        if message.generation != self.generation:
            return
        info = self.query_one("#model-info", Static)
        if message.total is None:   # what the model is, before any byte is fetched
            self.fetch_summary = message.line
            info.update(Text(message.line))
            return
        info.update(Text(f"{self.fetch_summary}\n{message.line}"))
        self.query_one("#download-row").add_class("active")
        self.query_one("#download", ProgressBar).update(total=max(message.total, 1),
                                                        progress=message.done)

    fetch_summary = ""

    @on(Planned)
    def _planned(self, message: Planned) -> None:
        message.stop()
        if message.generation != self.generation:
            return
        self.query_one("#download-row").remove_class("active")
        info = self.query_one("#model-info", Static)
        if message.error:
            info.update(Text(f"✗ {message.error}", style="bold"))
            self.query_one("#memory", MemoryBars).show_message("No estimate: see the model error.")
            self.query_one("#apply", Button).disabled = True
            return
        plan = self.plan = message.result
        if message.model != self.state.cfg.model.name:
            self.state.cfg = self.state.cfg.with_overrides({"model.name": message.model})
            self.planned_key = self._plan_key(message.model)
            self.post_message(ConfigChanged())
        info.update(hardware_work.profile_line(plan["profile"], plan["local"], plan["where"]))
        rec = plan["recommendation"]
        cfg = self.state.cfg
        what = f"for {cfg.objective.upper()} " if cfg.objective != "sft" else ""
        basis = (f"{what}with your config's batch {cfg.training.batch_size}, max_length "
                 f"{cfg.data.max_length}, gradient checkpointing "
                 f"{'on' if cfg.training.gradient_checkpointing else 'off'}")
        self.query_one("#memory", MemoryBars).show(
            plan["estimates"], plan["capacity_gb"], plan["capacity_label"], rec.method, basis)
        self.query_one("#recommendation", Static).update(
            hardware_work.recommendation_text(rec, self.state.cfg))
        self.query_one("#apply", Button).disabled = rec is None or not rec.settings

    # ----- apply / continue -------------------------------------------------------------
    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        actions = {
            "use-model": lambda: self.use_model(self.query_one("#model-name", Input).value.strip()),
            "replan": lambda: self.replan(),
            "cancel-download": self.cancel_download.set,
            "apply": self.action_apply,
            "continue": self.action_continue,
        }
        if event.button.id in actions:
            actions[event.button.id]()

    def action_apply(self) -> None:
        rec = self.plan and self.plan.get("recommendation")
        if not rec or not rec.settings:
            self.notify("No recommendation yet: choose a model first.", severity="warning")
            return
        before = self.state.cfg
        self.state.cfg = before.with_overrides(rec.settings)
        changed = hardware_work.changed_settings(before, self.state.cfg)
        self.post_message(ConfigChanged())
        self.notify(", ".join(changed) if changed else "The run config already had these values.",
                    title=f"Applied: {rec.method}")
        self.query_one("#recommendation", Static).update(
            hardware_work.recommendation_text(rec, self.state.cfg))

    def action_continue(self) -> None:
        self.post_message(StepCompleted("hardware"))
        go_to_step(self, "configure")

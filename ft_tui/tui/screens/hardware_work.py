"""The Hardware step's work away from the widgets: planning (run in a thread worker)
and turning core results into rich renderables. Core imports happen inside functions
so importing the app stays light."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ft_tui.core.config import RunConfig, get_value
from ft_tui.core.models import ModelNotFound, resolve_model

METHODS = ("full", "lora", "qlora")

# What planning may raise for a bad model choice; anything else is a bug and is shown
# by the app's worker-error handler.
PLAN_ERRORS = (ModelNotFound, FileNotFoundError, ValueError, OSError)


def model_kind(name: str) -> str:
    """Which picker choice a configured model name belongs to: default, local or hub."""
    try:
        kind = resolve_model(name).kind
    except ModelNotFound:
        return "local" if name.startswith((".", "/", "~")) else "hub"
    return {"default": "default", "hub": "hub"}.get(kind, "local")


def plan(name: str, cfg: RunConfig, gpu_gb: float | None, token_stats: dict | None) -> dict:
    """Profile the model, estimate memory for every method and recommend settings.
    Blocking (may read a GGUF header): call from a worker thread."""
    from ft_tui.core.hardware import probe
    from ft_tui.core.memory import estimate
    from ft_tui.core.model_profile import model_profile
    from ft_tui.core.recommend import recommend

    resolve_model(name)  # a clear ModelNotFound before anything slower
    profile = model_profile(name)
    hw = probe(cfg.output_dir)
    estimates = {
        method: estimate(profile, method, batch=cfg.training.batch_size,
                         seq=cfg.data.max_length,
                         gradient_checkpointing=cfg.training.gradient_checkpointing,
                         lora_r=cfg.lora.r)
        for method in METHODS
    }
    rec = recommend(hw, profile, token_stats=token_stats, gpu_memory_gb=gpu_gb)
    capacity, label = capacity_of(hw, gpu_gb)
    return {"profile": profile, "estimates": estimates, "recommendation": rec,
            "capacity_gb": capacity, "capacity_label": label}


def capacity_of(hw: Any, gpu_gb: float | None) -> tuple[float | None, str]:
    """The memory a run can use: the planned size, the largest GPU, or RAM on CPU."""
    if gpu_gb:
        return gpu_gb, "planned GPU"
    if hw.gpus:
        gpu = max(hw.gpus, key=lambda g: g.total_gb)
        return gpu.total_gb, f"{gpu.name}"
    return hw.ram_available_gb, "available RAM, training on CPU"


def machine_table(hw: Any) -> Group:
    parts: list[Any] = []
    if hw.gpus:
        table = Table(expand=False, show_edge=False, pad_edge=False)
        for column in ("#", "GPU", "memory used", "free", "util"):
            table.add_column(column, justify="right" if column != "GPU" else "left")
        for index, gpu in enumerate(hw.gpus):
            util = gpu.utilization_pct
            table.add_row(str(index), gpu.name,
                          f"{gpu.used_gb:.1f} / {gpu.total_gb:.1f} GB",
                          f"{gpu.free_gb:.1f} GB",
                          "?" if util is None else f"{util:.0f}%")
        parts.append(table)
    else:
        parts.append(Text(f"No GPU: {hw.no_gpu_reason or 'none found'}. Training runs on the "
                          "CPU: fine for the default 135M model, slow for larger ones.",
                          style="bold"))
    ram = Text(f"RAM {hw.ram_available_gb:.1f} GB free of {hw.ram_total_gb:.1f} GB · "
               f"{hw.cpu_cores} CPU cores")
    parts.append(ram)
    return Group(*parts)


def profile_line(profile: Any) -> Text:
    params = profile.params
    size = f"{params / 1e9:.2f}B" if params >= 1e9 else f"{params / 1e6:.0f}M"
    return Text(f"{profile.name}: {size} parameters, {profile.layers} layers, hidden "
                f"{profile.hidden}, vocab {profile.vocab}, {profile.dtype}")


def recommendation_text(rec: Any, cfg: RunConfig) -> Group | Text:
    if rec is None:
        return Text("No recommendation.")
    table = Table(show_edge=False, pad_edge=False, box=None)
    table.add_column("setting")
    table.add_column("recommended")
    table.add_column("now in config", style="dim")
    for key, value in rec.settings.items():
        try:
            current = get_value(cfg, key)
        except AttributeError:
            current = "?"
        same = current == value
        table.add_row(key, str(value), "same" if same else str(current))
    reasons = Text()
    for reason in rec.reasons:
        reasons.append(f"• {reason}\n")
    head = Text(f"Method: {rec.method}", style="bold")
    return Group(head, table, reasons)


def changed_settings(before: RunConfig, after: RunConfig) -> list[str]:
    """'key: old → new' for every setting that differs."""
    from ft_tui.core.config import iter_fields

    out = []
    for info in iter_fields():
        old, new = get_value(before, info.key), get_value(after, info.key)
        if old != new:
            out.append(f"{info.key}: {old} → {new}")
    return out

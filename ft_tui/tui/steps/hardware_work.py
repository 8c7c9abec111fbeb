"""The Hardware step's work away from the widgets: planning (run in a thread worker)
and turning core results into rich renderables. Core imports happen inside functions
so importing the app stays light."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ft_tui.core.config.settings import RunConfig, get_value
from ft_tui.core.models.resolve import ModelNotFound, resolve_model

# What planning may raise for a bad model choice; anything else is a bug and is shown
# by the app's worker-error handler.
PLAN_ERRORS = (ModelNotFound, FileNotFoundError, ValueError, OSError)


def probe_machine(output_dir: str):
    """GPUs, RAM and CPU now (NVML + psutil, no torch): fast enough to call every second."""
    from ft_tui.core.plan.hardware import probe

    return probe(output_dir)


def model_kind(name: str) -> str:
    """Which picker choice a configured model name belongs to: default, local or hub."""
    try:
        kind = resolve_model(name).kind
    except ModelNotFound:
        return "local" if name.startswith((".", "/", "~")) else "hub"
    return {"default": "default", "hub": "hub"}.get(kind, "local")


def fetch_hub_model(name: str, cfg: RunConfig, *, on_info, on_progress, cancel) -> None:
    """A hub id not in the cache: what it is (``on_info``, a line), then the download with
    ``on_progress(done, total, line)``; core/models/hub.py does the work. Offline, nothing
    is fetched (planning then uses the table of known models, and training says what is
    missing). Blocking: call from a worker thread. Raises ModelNotFound / DownloadCancelled."""
    import time

    from ft_tui.core.models.hub import fetch_model, is_offline

    try:
        resolved = resolve_model(name)
    except ModelNotFound:
        return
    if resolved.kind != "hub" or resolved.path is not None or is_offline(cfg.model.offline):
        return
    last = [0.0]

    def progress(p) -> None:
        now = time.monotonic()
        if p.finished or now - last[0] >= 0.25:   # a few screen updates a second
            last[0] = now
            on_progress(p.done, p.total, p.line())

    fetch_model(name, offline=cfg.model.offline, on_info=lambda model: on_info(model.summary()),
                on_progress=progress, cancel=cancel, log=lambda _text: None)


def plan(name: str, cfg: RunConfig, gpu_gb: float | None, token_stats: dict | None) -> dict:
    """Profile the model, estimate memory for every method and recommend settings.
    Blocking (may read a GGUF header): call from a worker thread."""
    from ft_tui.core.plan.methods import check_methods
    from ft_tui.core.plan.model_profile import model_profile
    from ft_tui.core.plan.recommend import recommend
    from ft_tui.core.run.speed import measured_speed

    profile = model_profile(name)  # ModelNotFound says what to do
    local, where = model_location(name)
    hw = probe_machine(cfg.output_dir)
    # A CPU plan is LoRA: its step time comes from an earlier LoRA run of this model here.
    speed = measured_speed(cfg.output_dir, model=name, method="lora", device="cpu")
    rec = recommend(hw, profile, token_stats=token_stats, gpu_memory_gb=gpu_gb,
                    objective=cfg.objective, measured=speed)
    # One check per method on the device the recommendation planned for (RAM in fp32 on a
    # CPU, VRAM in mixed precision on a real or planned GPU), as `ft-tui hw` shows it.
    estimates = check_methods(cfg, profile, rec)
    capacity, label = capacity_of(hw, gpu_gb)
    if rec.capacity_gb:  # the bars compare with what the recommendation planned for
        capacity = rec.capacity_gb
    return {"profile": profile, "estimates": estimates, "recommendation": rec,
            "capacity_gb": capacity, "capacity_label": label, "local": local, "where": where}


def model_location(name: str) -> tuple[bool, str]:
    """Whether the model's weights are on this machine, and where, in words."""
    try:
        resolved = resolve_model(name)
    except ModelNotFound:
        return False, "not on this machine: planning from ft-tui's table of known models"
    if resolved.kind == "default":
        return True, "the embedded default model (converted once into ft-tui's cache)"
    if resolved.kind == "hub" and resolved.path is None:
        return False, ("not in the local Hugging Face cache (offline): `ft-tui download "
                       f"{name}` where there is network, then copy the cache here")
    return True, f"at {resolved.path}"


def capacity_of(hw: Any, gpu_gb: float | None) -> tuple[float | None, str]:
    """The memory a run can use: the planned size, the largest GPU, or RAM on CPU."""
    if gpu_gb:
        return gpu_gb, "planned GPU"
    if hw.gpus:  # what is free now: other processes' memory is not ours to use
        gpu = max(hw.gpus, key=lambda g: g.free_gb)
        return gpu.free_gb, f"free on GPU {gpu.index}, {gpu.name}"
    return hw.ram_available_gb, "available RAM, training on CPU"


def machine_table(hw: Any) -> Group:
    parts: list[Any] = []
    if hw.gpus:
        table = Table(expand=False, show_edge=False, pad_edge=False)
        for column in ("#", "GPU", "memory used", "free", "util"):
            table.add_column(column, justify="right" if column != "GPU" else "left")
        for gpu in hw.gpus:
            util = gpu.utilization_pct
            table.add_row(str(gpu.index), gpu.name,
                          f"{gpu.used_gb:.1f} / {gpu.total_gb:.1f} GB",
                          f"{gpu.free_gb:.1f} GB",
                          "?" if util is None else f"{util:.0f}%")
        parts.append(table)
    else:
        reason = (hw.no_gpu_reason or "none found").rstrip(".")   # plain words: the probe's
        parts.append(Text(f"No GPU: {reason}. A CPU is fine for small models such as the "
                          "default 135M one, slow for larger ones.", style="bold"))
    ram = Text(f"RAM {hw.ram_available_gb:.1f} GB free of {hw.ram_total_gb:.1f} GB · "
               f"{hw.cpu_cores} CPU cores")
    if hw.disk_free_gb is not None:
        ram.append(f" · disk {hw.disk_free_gb:.0f} GB free at {hw.disk_path}")
    parts.append(ram)
    return Group(*parts)


def profile_line(profile: Any, local: bool = True, where: str = "") -> Text:
    text = Text(f"{profile.name}: {profile.size_label} parameters, {profile.layers} layers, "
                f"hidden {profile.hidden}, vocab {profile.vocab}, stored as {profile.dtype}")
    if where:
        text.append(f"\n{where}" if local else f"\n! {where}", style="" if local else "bold")
    return text


def recommendation_text(rec: Any, cfg: RunConfig) -> Group | Text:
    if rec is None:
        return Text("No recommendation.")
    parts: list[Any] = []
    if rec.method is None:
        parts.append(Text("Nothing fits. What would:", style="bold"))
        parts.append(Text("".join(f"• {alt}\n" for alt in rec.alternatives).rstrip()))
        parts.append(Text("Why:", style="bold"))
    else:
        parts.append(Text(f"Method: {rec.method}", style="bold"))
        table = Table(show_edge=False, pad_edge=False, box=None)
        table.add_column("setting")
        table.add_column("recommended")
        table.add_column("in your config now", style="dim")
        for key, value in rec.settings.items():
            current = get_value(cfg, key)
            table.add_row(key, str(value), "same" if current == value else str(current))
        parts.append(table)
    parts.append(Text("".join(f"• {reason}\n" for reason in rec.reasons).rstrip()))
    if rec.method is not None and rec.alternatives:
        parts.append(Text("Other options:", style="bold"))
        parts.append(Text("".join(f"• {alt}\n" for alt in rec.alternatives).rstrip()))
    return Group(*parts)


def changed_settings(before: RunConfig, after: RunConfig) -> list[str]:
    """'key: old → new' for every setting that differs."""
    from ft_tui.core.config.settings import iter_fields

    out = []
    for info in iter_fields():
        old, new = get_value(before, info.key), get_value(after, info.key)
        if old != new:
            out.append(f"{info.key}: {old} → {new}")
    return out

"""What a run will do on this machine, said before anything is loaded.

`ft-tui train --dry-run [--json]`, the start of every `ft-tui train` and the wizard's Train
summary show the same: the device and the GPUs torch will use (not the ones NVML lists),
the precision and why, the attention kernel, the method, and the memory estimate against the
free memory with the headroom a plan keeps. A run that cannot start is refused here, in
seconds, instead of after minutes of loading:

- NVML sees a GPU but torch cannot use it (a CPU wheel, or a wheel built for a newer CUDA
  than the driver): the message names torch's version and CUDA build, the driver's CUDA and
  the install line; ``force_cpu`` (``--cpu``) trains on the CPU on purpose;
- the estimate does not fit: the message carries the planner's fix.

Importing torch is the cost (a couple of seconds): the run needs it anyway.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ft_tui.core.errors import SetupError
from ft_tui.core.plan import hardware
from ft_tui.core.plan.hardware import GpuInfo, HardwareInfo
from ft_tui.core.plan.memory import HEADROOM, OBJECTIVE_PASSES, Estimate, estimate_for, usable

TORCH_INSTALL = "https://pytorch.org/get-started/locally/"


@dataclass
class Preflight:
    device: str                               # "cuda" or "cpu"
    gpus: list[dict]                          # the GPUs torch will use, in torch's order
    torch: dict                               # version, cuda build, driver's CUDA
    precision: str = ""
    precision_reason: str = ""
    attention: str = ""
    method: str = ""
    objective: str = "sft"
    estimate: Estimate | None = None
    free_gb: float | None = None              # on the fullest GPU used, or RAM available
    fix: list[str] = field(default_factory=list)        # the planner's settings when it does not fit
    problems: list[str] = field(default_factory=list)   # why the run cannot start
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    step_time: str = ""     # on the CPU: measured by an earlier run here, or an estimate saying so

    @property
    def usable_gb(self) -> float | None:
        return None if self.free_gb is None else usable(self.free_gb)

    @property
    def fits(self) -> bool | None:
        if self.estimate is None or self.free_gb is None:
            return None
        return self.estimate.fits(self.free_gb)

    @property
    def ok(self) -> bool:
        return not self.problems and self.fits is not False

    def refusal(self) -> str:
        """One message for a run that cannot start ('' when it can)."""
        if self.problems:
            return " ".join(self.problems)
        if self.fits is False:
            return (f"{self.method} needs about {self.estimate.total_gb:.1f} GiB but "
                    f"{self._where()} has {self.free_gb:.1f} GiB free ({self.usable_gb:.1f} GiB "
                    f"after the {HEADROOM:.0%} headroom), so it would run out of memory. "
                    + (" ".join(self.fix) if self.fix else ""))
        return ""

    def _where(self) -> str:
        if self.device == "cpu":
            return "this machine's RAM"
        return self.gpus[0]["name"] if len(self.gpus) == 1 else "the fullest GPU"

    def lines(self) -> list[str]:
        """The preflight in words, one fact a line."""
        out = []
        if self.device == "cuda":
            names = "; ".join(f"cuda:{g['index']} {g['name']} ({g['total_gb']:.1f} GiB, "
                              f"{g['free_gb']:.1f} free, compute {g['compute_capability']})"
                              for g in self.gpus)
            out.append(f"Device: CUDA, torch will use {names}")
        else:
            out.append("Device: CPU")
        t = self.torch
        out.append(f"torch {t.get('version')} (CUDA build {t.get('cuda_build') or 'none: CPU only'}); "
                   f"driver CUDA {t.get('driver_cuda') or 'none'}")
        if self.precision:
            out.append(f"Precision: {self.precision}. {self.precision_reason}")
        if self.attention:
            out.append(f"Attention: {self.attention}")
        out.append(f"Method: {self.method} ({self.objective.upper()})")
        if self.estimate is not None and self.free_gb is not None:
            e = self.estimate
            verdict = "fits" if self.fits else "DOES NOT FIT"
            out.append(f"Memory: about {e.total_gb:.1f} GiB at batch {e.batch}, max_length {e.seq}, "
                       f"checkpointing {'on' if e.gradient_checkpointing else 'off'}; "
                       f"{self.free_gb:.1f} GiB free, {self.usable_gb:.1f} usable with {HEADROOM:.0%} "
                       f"headroom: {verdict} (margin {self.usable_gb - e.total_gb:+.1f} GiB)")
        if self.step_time:
            out.append(self.step_time)
        out.extend(f"Note: {n}" for n in self.notes)
        out.extend(f"Warning: {w}" for w in self.warnings)
        if self.fix and self.fits is False:
            out.append("Fix: " + " ".join(self.fix))
        out.extend(f"Cannot start: {p}" for p in self.problems)
        return out

    def summary_line(self) -> str:
        """The preflight in one line, for the wizard's Train step before Start."""
        if self.problems:
            return "Preflight: cannot start: " + " ".join(self.problems)
        where = ("CUDA " + ", ".join(g["name"] for g in self.gpus)) if self.device == "cuda" else "CPU"
        parts = [where]
        if self.precision:
            parts.append(self.precision)
        if self.attention:
            parts.append(f"attention {self.attention.split(' ')[0]}")
        line = "Preflight: " + " · ".join(parts)
        if self.estimate is not None and self.free_gb is not None:
            verdict = "fits" if self.fits else "DOES NOT FIT"
            line += (f" · {self.method} needs ~{self.estimate.total_gb:.1f} GiB of "
                     f"{self.usable_gb:.1f} usable: {verdict}")
            if self.fits is False and self.fix:
                line += ". " + " ".join(self.fix)
        return line

    def text(self) -> str:
        return "\n".join(self.lines())

    def to_dict(self) -> dict:
        data = asdict(self)
        data["estimate"] = self.estimate.to_dict() if self.estimate else None
        data.update(fits=self.fits, ok=self.ok, usable_gb=self.usable_gb, headroom=HEADROOM,
                    margin_gb=(None if self.fits is None
                               else round(self.usable_gb - self.estimate.total_gb, 2)))
        return data


def preflight(cfg, *, force_cpu: bool = False, hw: HardwareInfo | None = None) -> Preflight:
    """The preflight of ``cfg`` on this machine (``force_cpu``: the run was told --cpu)."""
    import torch

    from ft_tui.core.plan.device import detect_device

    hw = hw or hardware.probe(cfg.output_dir)
    cuda = torch.cuda.is_available() and not force_cpu
    facts = {"version": torch.__version__, "cuda_build": torch.version.cuda,
             "driver_cuda": next((g.cuda_version for g in hw.gpus if g.cuda_version), None),
             "cuda_available": torch.cuda.is_available()}
    pf = Preflight("cuda" if cuda else "cpu", [], facts, method=cfg.method, objective=cfg.objective)
    if hw.gpus and not cuda and not force_cpu:
        pf.problems.append(torch_cannot_use_gpu(hw, facts))
        return pf
    gpus = gpus_torch_uses(hw) if cuda else []
    if cuda and not hw.gpus:
        pf.notes.append(f"NVML is unavailable ({hw.no_gpu_reason or 'no reading'}); the GPU facts "
                        "come from torch")
    pf.gpus = [g.to_dict() for g in gpus]
    device = detect_device() if cuda else _cpu_device(force_cpu)
    _decisions(pf, cfg, device, gpus)
    if pf.problems:
        return pf
    _memory(pf, cfg, hw, gpus)
    return pf


def check_can_start(cfg, *, force_cpu: bool = False) -> Preflight:
    """The preflight of a run about to start; SetupError with :meth:`Preflight.refusal` when
    it cannot (the wizard's Start and `ft-tui train` call this before loading anything)."""
    pf = preflight(cfg, force_cpu=force_cpu)
    if not pf.ok:
        raise SetupError(pf.refusal())
    return pf


def probe_machine(output_dir=".") -> HardwareInfo:
    """:func:`probe`, with the GPU facts taken from torch where NVML cannot be read but the
    machine has NVIDIA device files (a container without libnvidia-ml)."""
    hw = hardware.probe(output_dir)
    if hw.gpus or not hardware.nvidia_device_nodes():
        return hw
    try:
        from ft_tui.core.plan.device import torch_gpus

        gpus = torch_gpus(measure_free=True)
    except ImportError:
        return hw
    if gpus:
        hw.gpus, hw.no_gpu_reason = gpus, None
    return hw


def torch_cannot_use_gpu(hw: HardwareInfo, facts: dict) -> str:
    names = ", ".join(sorted({g.name for g in hw.gpus}))
    driver = facts.get("driver_cuda")
    build = facts.get("cuda_build")
    if not build:
        why = f"torch {facts['version']} is a CPU-only build"
    else:
        why = (f"torch {facts['version']} was built for CUDA {build}"
               + (f", newer than this driver's CUDA {driver}" if driver else "")
               + " (or the driver does not load)")
    tag = f"cu{driver.replace('.', '')}" if driver else "cuXYZ"
    return (f"NVML sees {names} but torch cannot use it: {why}. Install a torch built for CUDA "
            f"{driver or 'your driver version'} or older, e.g. `pip install torch --index-url "
            f"https://download.pytorch.org/whl/{tag}` (the versions offered are listed at "
            f"{TORCH_INSTALL}), or update the NVIDIA driver. To train on the CPU on purpose, "
            "pass --cpu.")


def gpus_torch_uses(hw: HardwareInfo) -> list[GpuInfo]:
    """torch's own device list; NVML's readings (free memory, UUIDs) where NVML's view after
    CUDA_VISIBLE_DEVICES / CUDA_DEVICE_ORDER names the same cards in the same order."""
    from ft_tui.core.plan.device import torch_gpus

    seen = torch_gpus(measure_free=not hw.gpus)
    if [g.name for g in hw.gpus] == [g.name for g in seen]:
        return list(hw.gpus)
    return seen


def _cpu_device(force_cpu: bool):
    from ft_tui.core.plan.hardware import cpu_bf16_flags, cpu_precision
    from ft_tui.core.plan.device import DeviceInfo, detect_device

    if not force_cpu:
        return detect_device()
    mode, reason = cpu_precision(cpu_bf16_flags())
    return DeviceInfo.cpu(mode == "bf16", reason)


def _decisions(pf: Preflight, cfg, device, gpus: list[GpuInfo]) -> None:
    from ft_tui.core.plan.model_profile import model_profile
    from ft_tui.core.plan.device import (attention_text, check_liger, packing_allowed,
                                             pick_attention, resolve_precision)

    try:
        precision = resolve_precision(cfg, device)
        attention = pick_attention(cfg, device)
        check_liger(cfg, device)
    except SetupError as exc:
        pf.problems.append(str(exc))
        return
    pf.precision = precision.mode
    pf.precision_reason = precision_reason(cfg, device, precision, gpus)
    try:
        model_type = model_profile(cfg.model.name).model_type
    except Exception:   # an unknown model: the run's own load says what is wrong
        model_type = ""
    pf.attention = attention_text(attention, model_type)
    unpacked = packing_allowed(cfg, attention)[1]
    if unpacked:
        pf.warnings.append(unpacked)
    if cfg.method == "qlora" and not device.cuda:
        pf.warnings.append("QLoRA without a CUDA GPU runs bitsandbytes' CPU path, slower than LoRA")


def precision_reason(cfg, device, precision, gpus: list[GpuInfo]) -> str:
    asked = cfg.training.precision
    if not device.cuda:
        return device.cpu_precision_reason or ("as asked" if asked != "auto" else "fp32 on the CPU")
    cc = ", ".join(sorted({g.compute_capability or "?" for g in gpus})) or "?"
    how = f"as asked (training.precision: {asked})" if asked != "auto" else (
        f"native bf16 (compute capability {cc} >= 8.0)" if device.bf16 else
        f"compute capability {cc} has no native bf16 (torch would emulate it, slowly); fp16 with "
        "a gradient scaler, the trained weights kept in fp32")
    extra = f"; weights loaded in {precision.weights_dtype}"
    if cfg.method == "qlora":
        extra += f", 4-bit base computing in {precision.compute_dtype}"
    return how + extra + "."


def _memory(pf: Preflight, cfg, hw: HardwareInfo, gpus: list[GpuInfo]) -> None:
    from ft_tui.core.models.resolve import ModelNotFound
    from ft_tui.core.plan.model_profile import model_profile

    try:
        profile = model_profile(cfg.model.name)
    except (ModelNotFound, OSError, ValueError) as exc:
        pf.notes.append(f"no memory estimate: {exc}")
        return
    mode = pf.precision or cfg.training.precision
    planned = cfg.with_overrides({"training.precision": mode})
    pf.estimate = estimate_for(planned, profile, pf.device)
    pf.free_gb = min(g.free_gb for g in gpus) if gpus else (hw.ram_available_gb or None)
    if pf.device == "cpu" and cfg.method != "qlora" and OBJECTIVE_PASSES.get(cfg.objective, (1, 0)) == (1, 0):
        # One pass per example, as the runs measured (a CPU QLoRA step is far slower: warned).
        from ft_tui.core.plan.step_time import cpu_step_time
        from ft_tui.core.run.speed import measured_speed

        speed = measured_speed(cfg.output_dir, model=cfg.model.name, method=cfg.method, device="cpu")
        pf.step_time = cpu_step_time(profile.params, batch=cfg.training.batch_size,
                                     accumulation=cfg.training.gradient_accumulation,
                                     length=cfg.data.max_length, measured=speed, method=cfg.method)
    if pf.fits is False:
        pf.fix = planner_fix(cfg, profile, _as_planned(hw, gpus))


def _as_planned(hw: HardwareInfo, gpus: list[GpuInfo]) -> HardwareInfo:
    from dataclasses import replace

    return replace(hw, gpus=list(gpus))


def planner_fix(cfg, profile, hw: HardwareInfo) -> list[str]:
    """The recommender's settings for ``hw`` where they differ from ``cfg``, as sentences."""
    from ft_tui.core.plan.recommend import recommend

    rec = recommend(hw, profile, max_length=cfg.data.max_length, objective=cfg.objective)
    if not rec.fits:
        return ["The memory planner finds no setting that fits: "
                + "; ".join(rec.alternatives[:3] or rec.reasons[:2])]
    changes = settings_changes(cfg, rec.settings)
    if not changes:
        return []
    return ["The memory planner suggests: " + ", ".join(changes) + "."]


def settings_changes(cfg, settings: dict) -> list[str]:
    """``key=value`` for each recommended setting ``cfg`` does not already have ('auto'
    precision already resolves to what the planner assumes)."""
    current = cfg.to_dict()
    return [f"{key}={value}" for key, value in settings.items()
            if _lookup(current, key) != value
            and not (key == "training.precision" and _lookup(current, key) == "auto")]


def _lookup(data: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data

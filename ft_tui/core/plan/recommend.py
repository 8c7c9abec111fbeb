"""Which method and settings fit: the planner behind `ft-tui hw` and the Hardware step.

Preference is ft-tui's: LoRA first (most of full fine-tuning's quality at a
fraction of the memory), QLoRA when LoRA does not fit, never full fine-tuning by default.
Within a method it takes the biggest per-device batch that fits without gradient
checkpointing, and only when none does the biggest with it; it fills the rest of an effective
batch of 16 (within the 4-32 that presets use) with gradient accumulation. Every choice comes with a
reason in plain words and numbers; when nothing fits, ``alternatives`` says what would.

``settings`` uses dotted RunConfig keys, so the UI applies it with
``cfg.with_overrides(rec.settings)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ft_tui.core.plan.hardware import HardwareInfo, cpu_precision
from ft_tui.core.plan.memory import (HEADROOM, OBJECTIVE_PASSES, Estimate, estimate,
                                     lora_param_count, marketed_to_gib, usable)
from ft_tui.core.plan.model_profile import ModelProfile, known_models
from ft_tui.core.plan.step_time import cpu_step_time
from ft_tui.core.run.speed import MeasuredSpeed

LORA_R = 16
LORA_TARGETS = "all-linear"
EFFECTIVE_BATCH = 16                  # 4 x 4, the default config; presets stay within 4-32
MAX_EFFECTIVE_BATCH = 32
DEFAULT_MAX_LENGTH = 512
CPU_COMFORTABLE_PARAMS = 0.6e9        # trains in minutes on a laptop CPU
CPU_PRACTICAL_PARAMS = 2.0e9          # beyond this a CPU run takes days
# (per-device batch, gradient checkpointing), most throughput first. Checkpointing costs
# 20-30 % more time per step whatever the batch, so a smaller batch without it (gradient
# accumulation keeps the effective batch) comes before a bigger one with it.
GPU_CHOICES = ((16, False), (8, False), (4, False), (2, False), (1, False), (8, True), (4, True),
               (2, True), (1, True))
CPU_CHOICES = ((4, False), (4, True), (2, False), (2, True), (1, False), (1, True))


@dataclass
class Recommendation:
    method: str | None                 # None: nothing fits (see alternatives)
    settings: dict[str, Any]
    reasons: list[str]
    alternatives: list[str] = field(default_factory=list)
    estimate: Estimate | None = None   # peak memory with these settings
    capacity_gb: float | None = None
    capacity_label: str = ""
    device: str = "cuda"
    # Per method, the first (batch, checkpointing) of the search that fits; None: none does.
    fits_at: dict[str, Estimate | None] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return self.method is not None

    def to_dict(self) -> dict:
        return {"method": self.method, "fits": self.fits, "settings": dict(self.settings),
                "reasons": list(self.reasons), "alternatives": list(self.alternatives),
                "estimate": self.estimate.to_dict() if self.estimate else None,
                "capacity_gb": None if self.capacity_gb is None else round(self.capacity_gb, 2),
                "capacity_label": self.capacity_label, "device": self.device,
                "fits_at": {m: e and {"batch": e.batch, "gradient_checkpointing":
                                      e.gradient_checkpointing, "total_gb": round(e.total_gb, 2)}
                            for m, e in self.fits_at.items()}}


@dataclass
class _Target:
    device: str
    capacity: float
    label: str
    n_gpus: int
    precision: str                     # the RunConfig value to recommend
    precision_reason: str


def recommend(hw: HardwareInfo, profile: ModelProfile, token_stats: dict | None = None,
              gpu_memory_gb: float | None = None, n_gpus: int | None = None, *,
              max_length: int | None = None, objective: str = "sft",
              measured: MeasuredSpeed | None = None) -> Recommendation:
    """Settings that fit ``profile`` on this machine, or on ``n_gpus`` GPUs of
    ``gpu_memory_gb`` each when planning for hardware you do not have. ``measured``: the
    speed of an earlier SFT LoRA run of this model on this CPU (core/run/speed.measured_speed,
    which the callers ask with their runs folder), quoted as the CPU plan's step time; without
    it the step time is an estimate and says so."""
    target = _target(hw, gpu_memory_gb, n_gpus)
    length, length_reason = _max_length(token_stats, max_length, profile)
    reasons = [target.label, length_reason]
    plan = _Planner(profile, target, length, objective)
    sequences, reference_passes = OBJECTIVE_PASSES.get(objective, (1, 0))
    if sequences > 1 or reference_passes:
        passes = ("chosen and rejected answers both pass through the model" if sequences > 1
                  else "each answer passes through the model")
        passes += (" and a reference pass scores them" if reference_passes
                   else " (no reference model)")
        reasons.append(f"{objective.upper()}: {passes}, so each example costs more memory than "
                       "in SFT; the search below counts that.")

    if target.device == "cpu":
        method, est, why = plan.on_cpu()
    else:
        method, est, why = plan.on_gpu()
    reasons.extend(why)
    choices = CPU_CHOICES if target.device == "cpu" else GPU_CHOICES
    fits_at = {m: plan.first_fit(m, choices) for m in ("full", "lora", "qlora")}
    if method is None or est is None:
        return Recommendation(None, {}, reasons, plan.alternatives(), None, target.capacity,
                              target.label, target.device, fits_at)

    per_step = est.batch * target.n_gpus
    accumulation = max(1, math.ceil(EFFECTIVE_BATCH / per_step))
    effective = per_step * accumulation
    optimizer = est.optimizer
    settings = {
        "method": method, "training.batch_size": est.batch,
        "training.gradient_accumulation": accumulation, "data.max_length": length,
        "training.gradient_checkpointing": est.gradient_checkpointing,
        "training.precision": target.precision, "training.optimizer": optimizer,
        "lora.r": LORA_R, "lora.alpha": 2 * LORA_R, "lora.target_modules": LORA_TARGETS,
    }
    gpus = f" per device x {target.n_gpus} GPUs" if target.n_gpus > 1 else ""
    reasons.append(f"Batch {est.batch}{gpus} x gradient accumulation {accumulation} = effective "
                   f"batch {effective}, inside the usual 4-32.")
    if target.device == "cpu" and sequences == 1 and not reference_passes:
        # One pass per example, as in the SFT runs measured; preference steps cost more.
        reasons.append(cpu_step_time(profile.params, batch=est.batch, accumulation=accumulation,
                                     length=length, measured=measured, method=method,
                                     typical=_stat(token_stats, "median")))
    reasons.append(plan.checkpointing_reason(method, est))
    reasons.append(target.precision_reason)
    reasons.append(_optimizer_reason(optimizer, est))
    n_lora = lora_param_count(profile, LORA_R, LORA_TARGETS)
    reasons.append(f"LoRA rank {LORA_R} (alpha {2 * LORA_R}) on all linear layers: {_count(n_lora)} "
                   f"trainable parameters ({100 * n_lora / profile.params:.2f} % of "
                   f"{profile.size_label}); rank 8-16 suits most tasks.")
    return Recommendation(method, settings, reasons, [], est, target.capacity, target.label,
                          target.device, fits_at)


# ----- the search -----------------------------------------------------------------------

class _Planner:
    def __init__(self, profile: ModelProfile, target: _Target, length: int, objective: str = "sft"):
        self.p, self.t, self.length = profile, target, length
        self.objective = objective

    def est(self, method: str, batch: int, checkpointing: bool, length: int | None = None,
            profile: ModelProfile | None = None) -> Estimate:
        optimizer = "paged_adamw_8bit" if method == "qlora" else "adamw_torch"
        precision = "fp32" if self.t.device == "cpu" else "bf16"
        return estimate(profile or self.p, method, batch, length or self.length, checkpointing,
                        LORA_R, lora_targets=LORA_TARGETS, optimizer=optimizer,
                        precision=precision, device=self.t.device, objective=self.objective)

    def first_fit(self, method: str, choices) -> Estimate | None:
        cap_batch = max(1, MAX_EFFECTIVE_BATCH // self.t.n_gpus)
        for batch, checkpointing in choices:
            if batch > cap_batch:
                continue
            candidate = self.est(method, batch, checkpointing)
            if candidate.fits(self.t.capacity):
                return candidate
        return None

    def smallest(self, method: str) -> Estimate:
        return self.est(method, 1, True)

    def on_gpu(self) -> tuple[str | None, Estimate | None, list[str]]:
        cap = usable(self.t.capacity)
        full = self.smallest("full")
        full_note = (f"Full fine-tuning would also fit ({full.total_gb:.1f} GiB at batch 1), but LoRA "
                     "reaches most of its quality for far less memory and time."
                     if full.fits(self.t.capacity) else
                     f"Full fine-tuning needs at least {full.total_gb:.1f} GiB, "
                     f"{full.total_gb - cap:.1f} GiB more than there is.")
        lora = self.first_fit("lora", GPU_CHOICES)
        if lora is not None:
            return "lora", lora, [f"LoRA on a bf16 base: needs {lora.total_gb:.1f} GiB of the {cap:.1f} GiB a plan may use "
                                  f"(batch {lora.batch}, max_length {self.length}).", full_note]
        lora_min = self.smallest("lora")
        qlora = self.first_fit("qlora", GPU_CHOICES)
        lora_note = (f"LoRA in bf16 needs {lora_min.total_gb:.1f} GiB even at batch 1 with "
                     f"checkpointing, {lora_min.total_gb - cap:.1f} GiB more than there is.")
        if qlora is not None:
            return "qlora", qlora, [f"QLoRA (4-bit NF4 base): needs {qlora.total_gb:.1f} GiB of the "
                                    f"{cap:.1f} GiB a plan may use. {lora_note}", full_note]
        qlora_min = self.smallest("qlora")
        weights = qlora_min.components["frozen weights"]
        return None, None, [
            f"Nothing fits in {cap:.1f} GiB. QLoRA, the smallest method, needs {qlora_min.total_gb:.1f} GiB "
            f"at batch 1 with checkpointing: the 4-bit weights alone (with 16-bit embeddings) are "
            f"{weights:.1f} GiB.", lora_note, full_note]

    def on_cpu(self) -> tuple[str | None, Estimate | None, list[str]]:
        cap, size = usable(self.t.capacity), self.p.size_label
        qlora_note = "QLoRA needs a CUDA GPU: bitsandbytes' 4-bit path on a CPU is slower than plain LoRA."
        if self.p.params > CPU_PRACTICAL_PARAMS:
            lora = self.smallest("lora")
            room = "would fit in RAM" if lora.fits(cap) else "would not even fit in RAM"
            return None, None, [
                f"Training a {size} model on the CPU is impractical: each step takes minutes and "
                f"a small data set days (LoRA in fp32 {room}: {lora.total_gb:.1f} GiB).", qlora_note]
        lora = self.first_fit("lora", CPU_CHOICES)
        if lora is None:
            need = self.smallest("lora").total_gb
            return None, None, [f"LoRA in fp32 needs {need:.1f} GiB of RAM even at batch 1; "
                                f"{cap:.1f} GiB is available.", qlora_note]
        speed = ("small enough to train on a CPU." if self.p.params <= CPU_COMFORTABLE_PARAMS else
                 "possible on a CPU but slow; a GPU is far faster.")
        return "lora", lora, [f"LoRA in fp32 on the CPU: needs {lora.total_gb:.1f} GiB of "
                              f"{cap:.1f} GiB RAM; a {size} model is {speed}", qlora_note]

    def checkpointing_reason(self, method: str, est: Estimate) -> str:
        if not est.gradient_checkpointing:
            return ("Gradient checkpointing off: it fits without, and skipping the recomputation "
                    "trains about 20-30 % faster.")
        without = self.est(method, est.batch, False)
        return (f"Gradient checkpointing on: without it this needs {without.total_gb:.1f} GiB; "
                f"recomputing activations saves {without.total_gb - est.total_gb:.1f} GiB for about "
                "20-30 % more time per step.")

    def alternatives(self) -> list[str]:
        """What would fit when nothing does: a bigger GPU, shorter examples, a smaller
        model, several GPUs."""
        out: list[str] = []
        method = "qlora"
        need = self.smallest(method)
        sold = _round_up(need.total_gb / (1 - HEADROOM) / marketed_to_gib(1))  # as GPUs are sold
        out.append(f"A GPU with at least {sold} GB ({need.total_gb:.1f} GiB plus {HEADROOM:.0%} headroom): "
                   f"QLoRA then fits at batch 1, max_length {self.length} (plan it with "
                   f"`ft-tui hw --gpu-memory {sold}`).")
        fit_method = "lora" if self.t.device == "cpu" else "qlora"
        length = self.length // 2
        while length >= 128:
            shorter = self.est(fit_method, 1, True, length=length)
            if shorter.fits(self.t.capacity) and (self.t.device == "cuda"
                                                  or self.p.params <= CPU_PRACTICAL_PARAMS):
                out.append(f"A shorter max_length: at {length} tokens {_name(fit_method)} needs "
                           f"{shorter.total_gb:.1f} GiB, which fits (longer examples get cut).")
                break
            length //= 2
        smaller = self._smaller_model(fit_method)
        if smaller:
            out.append(smaller)
        if self.t.device == "cuda":
            out.append(self._sharded())
        return out

    def _smaller_model(self, method: str) -> str | None:
        limit = CPU_PRACTICAL_PARAMS if self.t.device == "cpu" else float("inf")
        for other in reversed(known_models()):
            if other.params >= self.p.params or other.params > limit:
                continue
            e = self.est(method, 1, True, profile=other)
            if e.fits(self.t.capacity):
                return (f"A smaller model: {other.name} ({other.size_label}) with {_name(method)} "
                        f"needs {e.total_gb:.1f} GiB.")
        return None

    def _sharded(self) -> str:
        """LoRA with the weights sharded over n GPUs (accelerate FSDP2, as ft-tui launches it;
        core/plan/sharding.py says what it shards)."""
        from ft_tui.core.plan.sharding import split

        lora = self.smallest("lora")
        shardable, rest = split(lora)
        how = "LoRA with the weights sharded by accelerate FSDP2 (`ft-tui train` picks it)"
        if rest < usable(self.t.capacity):
            n = max(2, math.ceil(shardable / (usable(self.t.capacity) - rest)))
            if n <= 64:
                return (f"Several GPUs: {how} over {n} GPUs of this size needs about "
                        f"{shardable / n + rest:.1f} GiB each.")
        return (f"Several GPUs: {how} would need more than 64 GPUs of this size; use GPUs with "
                "more memory.")


# ----- inputs -----------------------------------------------------------------------------

def _target(hw: HardwareInfo, gpu_memory_gb: float | None, n_gpus: int | None) -> _Target:
    if gpu_memory_gb:
        n = max(1, n_gpus or 1)
        gib = marketed_to_gib(gpu_memory_gb)
        several = f"{n} GPUs of {gpu_memory_gb:g} GB" if n > 1 else f"a {gpu_memory_gb:g} GB GPU"
        return _Target("cuda", gib, f"Planning for {several} ({gib:.1f} GiB; not this machine's), "
                       f"keeping {HEADROOM:.0%} free.",
                       n, "auto", "Precision auto: bf16 on the GPU you rent if it is Ampere or newer "
                       "(A100, A10, L4, RTX 30/40, H100), fp16 on older ones.")
    if hw.gpus:
        gpus = sorted(hw.gpus, key=lambda g: g.free_gb, reverse=True)
        n = min(len(gpus), max(1, n_gpus or len(gpus)))
        used = gpus[:n]
        free = min(g.free_gb for g in used)
        names = ", ".join(sorted({g.name for g in used}))
        label = (f"This machine: {names} with {free:.1f} GiB free" if n == 1 else
                 f"This machine: {n} GPUs ({names}), {free:.1f} GiB free on the fullest; "
                 "each training process holds a full copy (DDP)")
        label += f"; plans keep {HEADROOM:.0%} of it ({free - usable(free):.1f} GiB) free."
        if all(g.bf16_supported for g in used):
            cc = ", ".join(sorted({g.compute_capability or "?" for g in used}))
            return _Target("cuda", free, label, n, "bf16",
                           f"bf16: every GPU used supports it (compute capability {cc}).")
        cc = ", ".join(sorted({g.compute_capability or "unknown" for g in used if not g.bf16_supported}))
        return _Target("cuda", free, label, n, "fp16",
                       f"fp16: compute capability {cc} has no bf16 (it needs Ampere, 8.0, or newer).")
    reason = hw.no_gpu_reason or "no GPU found"   # in plain words since the probe
    mode, why = cpu_precision(hw.cpu_bf16_flags)
    # "auto" lets the run confirm bf16 with torch at start; without the instructions, fp32.
    return _Target("cpu", hw.ram_available_gb,
                   f"No GPU ({reason}). Planning for the CPU with {hw.ram_available_gb:.1f} GiB of RAM "
                   "available.", 1, "auto" if mode == "bf16" else "fp32", f"Precision {why}")


def _max_length(stats: dict | None, fixed: int | None, profile: ModelProfile) -> tuple[int, str]:
    limit = min(32768, profile.max_positions or 32768)
    if fixed:
        length = max(32, min(int(fixed), limit))
        if length < fixed:
            return length, f"max_length {length}: the model's limit ({fixed} was asked)."
        return length, f"max_length {length}, as asked."
    p95, longest = _stat(stats, "p95"), _stat(stats, "max")
    if not p95 and not longest:
        return DEFAULT_MAX_LENGTH, (f"max_length {DEFAULT_MAX_LENGTH}: no token lengths from your "
                                    "data yet (the Data step measures them).")
    p95 = p95 or longest
    if longest and longest <= 1.25 * p95:
        length = _round_to(longest)
        why = f"covers the longest example ({longest:,.0f} tokens; 95 % are within {p95:,.0f})"
    else:
        length = _round_to(p95)
        cut = f"; the longest ({longest:,.0f}) gets cut" if longest else ""
        why = f"covers 95 % of the examples (p95 = {p95:,.0f} tokens){cut}"
    if length > limit:
        length, why = limit, f"the model's limit of {limit:,} tokens (your p95 is {p95:,.0f})"
    return length, f"max_length {length}: {why}; padding beyond it would only waste memory."


def _stat(stats: dict | None, key: str) -> float | None:
    if not isinstance(stats, dict):
        return None
    value = stats.get(key)
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _round_to(tokens: float, step: int = 64) -> int:
    return max(64, int(math.ceil(tokens / step) * step))


def _round_up(gb: float) -> int:
    return int(math.ceil(gb))


def _optimizer_reason(optimizer: str, est: Estimate) -> str:
    if optimizer == "paged_adamw_8bit":
        return ("Optimizer paged_adamw_8bit: the QLoRA recipe; its states page out to CPU RAM during "
                "memory spikes instead of crashing the run.")
    states = est.components.get("optimizer states", 0.0)
    return (f"Optimizer adamw_torch: the adapters' optimizer states take only {states * 1024:.0f} MB, "
            "so 8-bit Adam would save little.")


def _name(method: str) -> str:
    return {"lora": "LoRA", "qlora": "QLoRA", "full": "full fine-tuning"}[method]


def _count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"

"""Full / LoRA / QLoRA side by side, as `ft-tui hw` and the Hardware step show them.

For each method: its peak memory at the settings the user asked for, whether that fits,
whether the method can run on this machine at all, and the first batch size and
checkpointing choice of the recommender's search at which it fits. When the order of the
three surprises (LoRA above full fine-tuning, as on a CPU with a small model), one line
says why, from the estimate's own parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from ft_tui.core.plan.memory import Estimate, estimate_for
from ft_tui.core.plan.model_profile import ModelProfile
from ft_tui.core.plan.recommend import Recommendation

METHODS = ("full", "lora", "qlora")
_STATE_PARTS = ("trainable weights", "gradients", "optimizer states")


@dataclass
class MethodCheck:
    method: str
    asked: Estimate               # peak memory at the config's own settings
    capacity_gb: float | None
    blocked: str = ""             # why the method cannot run here; "" when it can
    best: Estimate | None = None  # the first (batch, checkpointing) of the search that fits
    note: str = ""                # why this method ranks where it does, when that surprises

    @property
    def fits_asked(self) -> bool:
        return not self.blocked and self.asked.fits(self.capacity_gb)

    @property
    def total_gb(self) -> float:       # what the memory bars draw
        return self.asked.total_gb

    @property
    def components(self) -> dict[str, float]:
        return self.asked.components

    def verdict(self) -> str:
        """'fits', 'needs 2.1 GiB more; fits at batch 1 with checkpointing (7.9 GiB)', ..."""
        if self.blocked:
            return f"cannot run here: {self.blocked}"
        if self.capacity_gb is None:
            return "no capacity to compare with"
        if self.fits_asked:
            return "fits"
        short = f"needs {self.asked.total_gb - self.capacity_gb:.1f} GiB more"
        if self.best is None:
            return f"{short}; fits at no batch size, even with checkpointing"
        return f"{short}; fits at {settings_text(self.best)} ({self.best.total_gb:.1f} GiB)"

    def to_dict(self) -> dict:
        return {**self.asked.to_dict(), "fits": self.fits_asked, "blocked": self.blocked,
                "verdict": self.verdict(), "note": self.note,
                "fits_at": None if self.best is None else {
                    "batch": self.best.batch, "gradient_checkpointing": self.best.gradient_checkpointing,
                    "total_gb": round(self.best.total_gb, 2)}}


def settings_text(est: Estimate) -> str:
    return f"batch {est.batch} with checkpointing" if est.gradient_checkpointing else f"batch {est.batch}"


def check_methods(cfg, profile: ModelProfile, rec: Recommendation) -> dict[str, MethodCheck]:
    """Every method at ``cfg``'s settings on the device and capacity ``rec`` planned for."""
    checks = {}
    for method in METHODS:
        blocked = ""
        if method == "qlora" and rec.device != "cuda":
            blocked = ("QLoRA needs a CUDA GPU; on a CPU bitsandbytes' 4-bit path runs several "
                       "times slower than LoRA")
        checks[method] = MethodCheck(method, estimate_for(cfg, profile, rec.device, method=method),
                                     rec.capacity_gb, blocked,
                                     None if blocked else rec.fits_at.get(method))
    _explain_order(checks, profile)
    return checks


def _explain_order(checks: dict[str, MethodCheck], profile: ModelProfile) -> None:
    """LoRA is expected below full fine-tuning and QLoRA below LoRA; say why when not."""
    full, lora, qlora = (checks[m].asked for m in METHODS)
    if lora.total_gb > full.total_gb:
        grows, saves = _part_changes(full, lora)
        checks["lora"].note = (
            f"LoRA needs more than full fine-tuning here: each adapted layer keeps a dropout "
            f"mask and its input for the adapter's gradient ({grows}), more than the {saves} "
            f"it saves on a {profile.size_label} model. On larger models the saving wins.")
    if not checks["qlora"].blocked and qlora.total_gb > lora.total_gb:
        grows, saves = _part_changes(lora, qlora)
        checks["qlora"].note = (
            f"QLoRA needs more than LoRA here ({grows}): its 4-bit weights save only "
            f"{saves} on a {profile.size_label} model; it pays off on larger ones.")


def _part_changes(smaller: Estimate, larger: Estimate) -> tuple[str, str]:
    """('activations +1.5 GiB, allocator overhead +0.4 GiB', '2.0 GiB of gradients, ...'):
    the parts that grow from ``smaller`` to ``larger``, and the total of those that shrink."""
    a, b = _merged_weights(smaller.components), _merged_weights(larger.components)
    diffs = {n: b.get(n, 0.0) - a.get(n, 0.0) for n in dict.fromkeys([*a, *b])}
    grows = ", ".join(f"{n} {d:+.1f} GiB" for n, d in diffs.items() if d >= 0.05)
    shrink = {n: -d for n, d in diffs.items() if d <= -0.05}
    saves = f"{sum(shrink.values()):.1f} GiB of {', '.join(shrink)}" if shrink else "little"
    return grows or "a little more in total", saves


def _merged_weights(parts: dict[str, float]) -> dict[str, float]:
    """Frozen and trainable weights as one 'weights' part: which share trains is not memory."""
    out = {n: gb for n, gb in parts.items() if n not in ("frozen weights", "trainable weights")}
    out["weights"] = parts.get("frozen weights", 0.0) + parts.get("trainable weights", 0.0)
    return out

"""What the machine can do, and the precision a run trains in.

TRL 1.x turns bf16 on by default and refuses it without a GPU, so every run sets bf16 and
fp16 explicitly from :func:`resolve_precision`.
"""

from __future__ import annotations

from dataclasses import dataclass


class SetupError(ValueError):
    """The run cannot start as configured; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class DeviceInfo:
    cuda: bool
    bf16: bool            # the GPU computes in bf16 natively (Ampere or newer)
    gpu_count: int
    name: str             # "cuda" or "cpu", for the start event

    @classmethod
    def cpu(cls) -> "DeviceInfo":
        return cls(False, False, 0, "cpu")


def detect_device() -> DeviceInfo:
    import torch

    if not torch.cuda.is_available():
        return DeviceInfo.cpu()
    return DeviceInfo(True, bool(torch.cuda.is_bf16_supported()), torch.cuda.device_count(),
                      f"cuda ({torch.cuda.get_device_name(0)})")


@dataclass(frozen=True)
class Precision:
    mode: str             # bf16 | fp16 | fp32: mixed-precision mode of the Trainer
    weights_dtype: str    # torch dtype name the model is loaded in
    compute_dtype: str    # QLoRA: dtype the 4-bit weights are expanded to

    @property
    def bf16(self) -> bool:
        return self.mode == "bf16"

    @property
    def fp16(self) -> bool:
        return self.mode == "fp16"


def resolve_precision(cfg, device: DeviceInfo) -> Precision:
    """bf16 on GPUs that support it, fp16 on older GPUs, fp32 on CPU (``auto``); an explicit
    choice the hardware cannot do is a SetupError, not a crash deep inside the Trainer."""
    wanted = cfg.training.precision
    if wanted == "auto":
        mode = ("bf16" if device.bf16 else "fp16") if device.cuda else "fp32"
    elif wanted in ("bf16", "fp16") and not device.cuda:
        raise SetupError(f"training.precision: {wanted!r} needs a CUDA GPU and none is visible; "
                         "use 'auto' or 'fp32' on this machine")
    elif wanted == "bf16" and not device.bf16:
        raise SetupError("training.precision: 'bf16' is not supported by this GPU; use 'auto' "
                         "(fp16) or 'fp16'")
    else:
        mode = wanted

    weights = cfg.model.dtype
    if weights == "auto":
        if mode == "fp32":
            weights = "float32"
        elif mode == "bf16":
            weights = "bfloat16"
        else:
            # fp16 mixed precision keeps fp32 master weights for whatever it trains: all of
            # them in a full fine-tune, only the adapters (PEFT upcasts them) with LoRA.
            weights = "float32" if cfg.method == "full" else "float16"

    compute = cfg.qlora.compute_dtype
    if compute == "bfloat16" and not device.bf16:
        compute = "float16" if device.cuda else "float32"
    return Precision(mode, weights, compute)

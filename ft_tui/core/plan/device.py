"""What the machine can do, and the precision a run trains in.

TRL 1.x turns bf16 on by default and refuses it without a GPU unless ``use_cpu`` is set, so
every run sets bf16 and fp16 explicitly from :func:`resolve_precision`. On a CPU, bf16 is
transformers' own CPU path: ``bf16=True, use_cpu=True`` makes accelerate wrap each forward in
``torch.autocast("cpu", dtype=torch.bfloat16)`` (accelerate.utils.modeling.
get_mixed_precision_context_manager), with the weights left in fp32.

bf16 on a GPU means *native* bf16: compute capability 8.0 or newer. torch's
``torch.cuda.is_bf16_supported()`` answers True on a T4 (sm_75) because by default it counts
emulation (torch/cuda/__init__.py: it tries to create a bf16 tensor), and emulated bf16 is slow
and turns FlashAttention-2 on where it cannot run; every decision here asks with
``including_emulation=False`` (:func:`native_bf16`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ft_tui.core.errors import SetupError
from ft_tui.core.models.dtypes import native_bf16


@dataclass(frozen=True)
class DeviceInfo:
    cuda: bool
    bf16: bool            # the GPU computes in bf16 natively (Ampere or newer)
    gpu_count: int
    name: str             # "cuda" or "cpu", for the start event
    cpu_bf16: bool = False        # the CPU has bf16 instructions and torch's oneDNN uses them
    cpu_precision_reason: str = ""

    @classmethod
    def cpu(cls, bf16: bool = False, reason: str = "") -> "DeviceInfo":
        return cls(False, False, 0, "cpu", bf16, reason)


def detect_device() -> DeviceInfo:
    import torch

    if not torch.cuda.is_available():
        from ft_tui.core.plan.hardware import cpu_bf16_flags, cpu_precision

        try:
            mkldnn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            mkldnn = False
        mode, reason = cpu_precision(cpu_bf16_flags(), mkldnn)
        return DeviceInfo.cpu(mode == "bf16", reason)
    return DeviceInfo(True, native_bf16(), torch.cuda.device_count(),
                      f"cuda ({torch.cuda.get_device_name(0)})")


def torch_gpus(measure_free: bool = False) -> list:
    """The CUDA devices torch will use, in its order, as :class:`GpuInfo` (for a container
    without NVML, and to check NVML's view). ``measure_free`` asks ``mem_get_info``, which
    creates a CUDA context on each device; otherwise free is the total (unknown)."""
    import torch

    from ft_tui.core.plan.hardware import GB, GpuInfo

    gpus = []
    if not torch.cuda.is_available():
        return gpus
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        total = free = props.total_memory
        if measure_free:
            try:
                free, total = torch.cuda.mem_get_info(index)
            except RuntimeError:
                pass
        native = props.major >= 8
        gpus.append(GpuInfo(index=index, name=props.name, total_gb=total / GB, free_gb=free / GB,
                            used_gb=(total - free) / GB,
                            compute_capability=f"{props.major}.{props.minor}",
                            bf16_supported=native, flash_attention_supported=native,
                            cuda_version=torch.version.cuda))
    return gpus


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
    """``auto``: bf16 on GPUs that support it, fp16 on older GPUs; on a CPU bf16 autocast where
    it has bf16 instructions (:func:`ft_tui.core.plan.hardware.cpu_precision`), else fp32. An
    explicit choice the hardware cannot do is a SetupError, not a crash deep inside the Trainer."""
    wanted = cfg.training.precision
    if wanted == "auto":
        if device.cuda:
            mode = "bf16" if device.bf16 else "fp16"
        else:
            mode = "bf16" if device.cpu_bf16 else "fp32"
    elif wanted == "bf16" and not device.cuda and not device.cpu_bf16:
        why = device.cpu_precision_reason or "this CPU has no bf16 instructions"
        raise SetupError(f"training.precision: 'bf16' needs a CUDA GPU or a CPU with bf16 "
                         f"instructions, and this machine has neither ({why}); use 'auto' or 'fp32'")
    elif wanted == "fp16" and not device.cuda:
        raise SetupError("training.precision: 'fp16' needs a CUDA GPU and none is visible; "
                         "use 'auto' or 'fp32' on this machine")
    elif wanted == "bf16" and device.cuda and not device.bf16:
        raise SetupError("training.precision: 'bf16' is not supported by this GPU; use 'auto' "
                         "(fp16) or 'fp16'")
    else:
        mode = wanted

    weights = cfg.model.dtype
    if weights == "auto":
        if mode == "fp32" or not device.cuda:
            # CPU autocast keeps fp32 weights (and the planner counts them so).
            weights = "float32"
        elif mode == "bf16":
            weights = "bfloat16"
        else:
            # fp16 mixed precision keeps fp32 master weights for whatever it trains: all of
            # them in a full fine-tune, only the adapters (PEFT upcasts them) with LoRA.
            weights = "float32" if cfg.method == "full" else "float16"

    # QLoRA's compute dtype follows the mixed precision: bf16 matmuls under fp16 autocast
    # (a T4, or an explicit precision: fp16) would mix dtypes the GradScaler never sees.
    compute = cfg.qlora.compute_dtype
    if mode == "fp16" and compute == "bfloat16":
        compute = "float16"
    elif mode == "bf16" and device.cuda and compute == "float16":
        compute = "bfloat16"
    elif compute == "bfloat16" and not device.bf16:
        compute = "float16" if device.cuda else "float32"
    return Precision(mode, weights, compute)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def flash_attention_available() -> bool:
    """transformers' own check (the flash-attn distribution, version >= 2.3.3, a CUDA torch),
    not a bare module lookup: a stale or FA4 ``flash_attn`` module would pass that."""
    try:
        from transformers.utils import is_flash_attn_2_available
    except ImportError:
        return False
    return bool(is_flash_attn_2_available())


def pick_attention(cfg, device: DeviceInfo, flash_installed: bool | None = None) -> str | None:
    """The ``attn_implementation`` a run loads the model with. ``auto``: FlashAttention-2
    where it runs (native bf16, i.e. compute capability 8.0+, and flash-attn installed), else
    None, which lets transformers choose per model class: SDPA where the class supports it,
    eager where it does not (Gemma-2's soft-capping, gpt-oss's sinks); forcing ``sdpa`` makes
    transformers refuse those models."""
    wanted = cfg.model.attention
    if flash_installed is None:
        flash_installed = device.cuda and device.bf16 and flash_attention_available()
    runs_flash = device.cuda and device.bf16 and flash_installed
    if wanted == "auto":
        return "flash_attention_2" if runs_flash else None
    if wanted == "flash_attention_2" and not runs_flash:
        why = ("there is no CUDA GPU" if not device.cuda else
               "the GPU is older than Ampere (compute capability 8.0)" if not device.bf16 else
               "the flash-attn package is not installed (pip install flash-attn)")
        raise SetupError(f"model.attention: 'flash_attention_2' cannot run here: {why}; use 'auto' "
                         "or 'sdpa'")
    return wanted


def attention_text(attention: str | None, model_type: str = "") -> str:
    """The kernel in words, for the preflight."""
    from ft_tui.core.plan.memory import EAGER_ATTENTION_TYPES

    if attention is None:
        kernel = "eager" if model_type in EAGER_ATTENTION_TYPES else "sdpa"
        return f"{kernel} (transformers' choice for this model class)"
    return attention


def packing_allowed(cfg, attention: str | None) -> tuple[bool, str]:
    """(pack?, why not). TRL's packing flattens a batch padding-free; only FlashAttention-2's
    varlen kernel keeps that cheap. Without it transformers builds one (B x L)^2 mask and does
    B times the attention work, so the run pads instead and says so."""
    from ft_tui.core.config.settings import PREFERENCE_OBJECTIVES

    if not cfg.training.packing or cfg.objective in PREFERENCE_OBJECTIVES:   # pairs: never packed
        return False, ""
    if attention == "flash_attention_2":
        return True, ""
    return False, ("training.packing needs FlashAttention-2 (a GPU of compute capability 8.0+ "
                   "with flash-attn installed); without it packing builds a (batch x length)^2 "
                   "attention mask, so this run pads each example instead")


def check_liger(cfg, device: DeviceInfo, installed: bool | None = None) -> bool:
    """Whether the run uses Liger kernels; asking for them where they cannot run is a
    SetupError (they are Triton kernels: CUDA only)."""
    if not cfg.training.use_liger_kernel:
        return False
    if not device.cuda:
        raise SetupError("training.use_liger_kernel: Liger's kernels need a CUDA GPU and none is "
                         "visible; switch it off on this machine")
    if not (_importable("liger_kernel") if installed is None else installed):
        raise SetupError("training.use_liger_kernel: the liger-kernel package is not installed "
                         "(pip install liger-kernel), or switch it off")
    return True

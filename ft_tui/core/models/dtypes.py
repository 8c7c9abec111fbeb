"""The dtype a model is loaded in on this machine, for answering and merging.

Here, below plan/ and training/, because generation (core/models/generation.py) asks it
as well as the precision decisions of a run (core/plan/device.py).
"""

from __future__ import annotations


def native_bf16() -> bool:
    """The first CUDA device computes in bf16 natively (compute capability >= 8.0); False
    on a T4/V100/RTX 20xx even though ``is_bf16_supported()`` says True there."""
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:   # a torch older than the keyword
        return torch.cuda.get_device_capability(0)[0] >= 8


def load_dtypes(method: str, qlora_cfg=None) -> dict:
    """How to load a base model for evaluation, chat, baseline and merging on this machine:
    ``{"dtype": name, "load_in_4bit": bool, "compute_dtype": name}``. A QLoRA run's base is
    loaded in 4-bit again on CUDA (the card that needed QLoRA cannot hold it in 16-bit); 16-bit
    is bf16 only where the GPU computes it natively."""
    import torch

    if not torch.cuda.is_available():
        return {"dtype": "float32", "load_in_4bit": False, "compute_dtype": "float32"}
    half = "bfloat16" if native_bf16() else "float16"
    return {"dtype": half, "load_in_4bit": method == "qlora", "compute_dtype": half,
            "quant_type": getattr(qlora_cfg, "quant_type", "nf4"),
            "double_quant": getattr(qlora_cfg, "double_quant", True)}

"""How much of a run's compute goes to real tokens, and how close it runs to the GPU's limit.

- :class:`TokenTally` counts, per training batch, the tokens the model processed and the
  non-padding ones among them, so a run can report its padding share.
- :func:`flops_per_token` is the usual estimate of training compute (Kaplan et al. 2020,
  "Scaling Laws for Neural Language Models", section 2.1; attention term as in Chowdhery
  et al. 2022, "PaLM", appendix B): 6N per token for a full fine-tune (forward 2N, backward
  4N), 4N for LoRA and QLoRA (the frozen weights get no weight gradients, so the backward
  pass is about 2N), plus the attention scores, which grow with the sequence length.
  Gradient checkpointing recomputes the forward pass; like MFU's usual definition, that
  work is not counted, so checkpointed runs show a lower MFU for the same hardware use.
- :func:`mfu` divides the achieved FLOP rate by the GPU's dense bf16 peak
  (:data:`GPU_BF16_PEAK_TFLOPS`, from the vendors' data sheets; dense, no sparsity).

Pure logic: the tally only calls methods of the tensors it is handed.
"""

from __future__ import annotations

# Dense bf16 (or fp16 for GPUs without bf16) tensor-core peak in TFLOPS, matched on the
# NVML/torch device name. The longest matching key wins ("H100 PCIe" before "H100").
GPU_BF16_PEAK_TFLOPS: dict[str, float] = {
    "B200": 2250.0, "H200": 989.0, "H100 SXM": 989.0, "H100 NVL": 835.0, "H100 PCIe": 756.0,
    "H100": 989.0, "GH200": 989.0, "H800": 989.0, "A100": 312.0, "A800": 312.0, "A10G": 70.0,
    "A10": 125.0, "A30": 165.0, "A40": 150.0, "A6000": 155.0, "L40S": 362.0, "L40": 181.0,
    "L4": 121.0, "RTX 6000 Ada": 364.0, "RTX 4090": 165.0, "RTX 4080": 97.0, "RTX 3090": 71.0,
    "RTX 3080": 59.5, "V100": 125.0, "T4": 65.0,
}


def peak_tflops(gpu_name: str) -> float | None:
    """The dense bf16 peak of the GPU called ``gpu_name``, or None for one not in the table."""
    name = gpu_name.upper()
    best = None
    for key, value in GPU_BF16_PEAK_TFLOPS.items():
        if key.upper() in name and (best is None or len(key) > len(best[0])):
            best = (key, value)
    return best[1] if best else None


def flops_per_token(method: str, params: int, *, layers: int = 0, hidden: int = 0,
                    seq_len: float = 0.0) -> float:
    """Training FLOPs per token: 6N (full) or 4N (LoRA/QLoRA), plus 12 x layers x hidden x
    seq_len for the attention scores (PaLM's term, no discount for the causal mask). The
    attention term is the same with LoRA: QK^T and AV have no weights, so their backward
    pass costs twice the forward either way."""
    passes = 6.0 if method == "full" else 4.0
    return passes * params + 12.0 * layers * hidden * seq_len


def mfu(tokens_per_s: float | None, flops_token: float, peak: float | None,
        n_devices: int = 1) -> float | None:
    """Model FLOPs utilisation (0-1): achieved training FLOP/s over the peak of all devices."""
    if not tokens_per_s or not peak or flops_token <= 0:
        return None
    return tokens_per_s * flops_token / (peak * 1e12 * max(1, n_devices))


class TokenTally:
    """Tokens processed (padding included) and real tokens, over the batches seen so far."""

    def __init__(self) -> None:
        self.processed = 0
        self.real = 0
        self.sequences = 0

    def add(self, inputs) -> None:
        ids = inputs.get("input_ids") if hasattr(inputs, "get") else None
        if ids is None:
            return
        self.processed += int(ids.numel())
        mask = inputs.get("attention_mask")
        position_ids = inputs.get("position_ids")
        if mask is not None:
            self.real += int(mask.sum())
            self.sequences += int(ids.shape[0])
        else:
            # Padding-free / packed batches: no padding inside; each example restarts its
            # position ids at 0 (the trailing pad of a packed row is position 0 too, but
            # TRL's bfd packing pads no row).
            self.real += int(ids.numel())
            self.sequences += (int((position_ids == 0).sum()) if position_ids is not None
                               else int(ids.shape[0]))

    @property
    def padding_share(self) -> float | None:
        """Share of the processed tokens that were padding (0-1), None before any batch."""
        if not self.processed:
            return None
        return max(0.0, 1.0 - self.real / self.processed)

    @property
    def mean_length(self) -> float:
        return self.real / self.sequences if self.sequences else 0.0


def throughput_note(log) -> str:
    """" (padding 12 %, MFU 38 %)" for a StepLog, or "" when it carries neither figure."""
    parts = []
    if log.padding_share is not None:
        parts.append(f"padding {100 * log.padding_share:.0f} %")
    if log.mfu is not None:
        parts.append(f"MFU {100 * log.mfu:.0f} %")
    return f" ({', '.join(parts)})" if parts else ""

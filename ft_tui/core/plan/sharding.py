"""DDP or FSDP, decided on what FSDP can shard.

FSDP splits a model's weights, gradients and optimizer states over the GPUs; every GPU
still holds the activations of its own batch, the loss head's tiles and the CUDA context.
So sharding is the answer only when the *shardable* part is what does not fit. When the
rest alone fills a GPU, the answer is a smaller per-device batch or gradient checkpointing
(the planner's search, ``recommend.py``), not more GPUs.

Two facts from accelerate's FSDP2 path (``accelerate/utils/fsdp_utils.py``):

- with mixed precision it upcasts every trainable parameter to fp32 before sharding, so a
  full fine-tune holds fp32 weights, fp32 gradients and fp32 AdamW states: 16 bytes per
  parameter, sharded, where a bf16 run on one GPU holds 8;
- it leaves bitsandbytes' uint8 4-bit weights out of sharding unless the model was loaded
  with a float ``bnb_4bit_quant_storage`` (bitsandbytes' FSDP-QLoRA guide) and without a
  per-rank ``device_map``. ft-tui's QLoRA loader does neither, so every GPU would hold the
  whole 4-bit model: QLoRA is refused here rather than sharded in name only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ft_tui.core.plan.memory import GB, Estimate

SHARDABLE = ("frozen weights", "trainable weights", "gradients", "optimizer states")
FSDP_FULL_BYTES_PER_PARAM = 16    # fp32 weights + fp32 gradients + two fp32 AdamW states


@dataclass(frozen=True)
class Sharding:
    strategy: str          # ddp | fsdp | refuse
    reason: str
    per_gpu_gb: float | None = None


def split(est: Estimate) -> tuple[float, float]:
    """(what FSDP shards, what every GPU keeps), in GiB, for one process of ``est``.
    A full fine-tune in bf16/fp16 is counted as FSDP holds it: fp32 trainable parameters."""
    shardable = sum(est.components.get(k, 0.0) for k in SHARDABLE)
    rest = est.total_gb - shardable
    if est.method == "full" and est.precision in ("bf16", "fp16"):
        shardable = max(shardable, est.trainable_params * FSDP_FULL_BYTES_PER_PARAM / GB)
        # No autocast copies or foreach temporaries of a full-size fp32 model on each GPU:
        # the optimizer steps on the local shard.
        rest -= est.components.get("optimizer step temporaries", 0.0)
    return shardable, max(rest, 0.0)


def sharded_gb(est: Estimate, n_gpus: int) -> float:
    shardable, rest = split(est)
    return shardable / max(1, n_gpus) + rest


def decide(est: Estimate, capacity_gb: float, n_gpus: int) -> Sharding:
    """DDP when one process fits ``capacity_gb``; FSDP when sharding the weights, gradients
    and optimizer states over ``n_gpus`` is what makes it fit; otherwise say why not."""
    if est.fits(capacity_gb):
        return Sharding("ddp", f"it fits one GPU ({est.total_gb:.1f} of {capacity_gb:.1f} GB), "
                        "so each process holds a full copy (DDP)", est.total_gb)
    shardable, rest = split(est)
    if rest >= capacity_gb:
        return Sharding("ddp", f"the activations and buffers at batch {est.batch} need "
                        f"{rest:.1f} GB on every GPU, more than the {capacity_gb:.1f} GB one has; "
                        "FSDP shards weights, gradients and optimizer states, not activations: "
                        "lower training.batch_size or turn on training.gradient_checkpointing "
                        "(`ft-tui hw --config CONFIG` shows what fits)", est.total_gb)
    if est.method == "qlora":
        return Sharding("refuse", f"QLoRA needs {est.total_gb:.1f} GB, more than one GPU's "
                        f"{capacity_gb:.1f} GB, and FSDP cannot help: accelerate leaves "
                        "bitsandbytes' uint8 4-bit weights unsharded (ft-tui does not load them "
                        "with a float bnb_4bit_quant_storage), so every GPU would still hold the "
                        "whole model. Use --method lora (FSDP shards it), a shorter "
                        "data.max_length, or a GPU with more memory")
    per_gpu = sharded_gb(est, n_gpus)
    fits = "fits" if per_gpu <= capacity_gb else "still does not fit"
    upcast = (" (counted in fp32: FSDP upcasts trainable parameters under mixed precision)"
              if est.method == "full" and est.precision in ("bf16", "fp16") else "")
    return Sharding("fsdp", f"the weights, gradients and optimizer states ({shardable:.1f} GB{upcast}) "
                    f"do not fit one GPU beside the rest ({rest:.1f} GB); FSDP shards them over "
                    f"{n_gpus} GPUs: about {per_gpu:.1f} GB each, which {fits} in "
                    f"{capacity_gb:.1f} GB", per_gpu)

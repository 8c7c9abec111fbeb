"""Peak training memory for full fine-tuning, LoRA and QLoRA, as a sum of named parts.

The estimate follows what ft-tui's own runner does (``core/training/builder.py``), not a
generic rule of thumb:

- weights are loaded in bf16 for bf16 runs, so a full fine-tune keeps bf16 gradients and
  torch AdamW keeps its two states in bf16 too (8 B/param, the rule of thumb "4x the model");
  fp16 runs and ``weights_dtype="float32"`` keep fp32 master weights (16 B/param plus
  16-bit copies that autocast holds for the backward pass);
- torch AdamW (``adamw_torch``, the foreach version) allocates one more state-sized
  buffer during ``optimizer.step()``; the fused and 8-bit optimizers do not;
- QLoRA goes through PEFT's ``prepare_model_for_kbit_training``, which casts everything
  that is not 4-bit (embeddings, lm_head, norms) to fp32; ft-tui casts the embeddings and
  lm_head back to the compute dtype (3.9 GiB less on Llama-3 8B), as the QLoRA recipe has them;
- TRL 1.x computes the loss with a chunked LM head and never materialises the
  batch x seq x vocab logits: the "logits" part is one 4096 x 32768 tile plus the
  gradients of the hidden states (and of the lm_head in a full fine-tune).

Activation coefficients were checked by counting the bytes autograd saves for a
Llama block (``docs/MEMORY_MODEL.md``); the fixed overheads still need calibrating on a
GPU with ``tests/bench/vram_calibration.py``. Sizes are in GiB (2^30 bytes) and said so;
a plan must fit with :data:`HEADROOM` to spare.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ft_tui.core.plan.model_profile import ModelProfile

GB = 1024 ** 3
METHODS = ("full", "lora", "qlora")
EIGHT_BIT_OPTIMIZERS = ("adamw_8bit", "paged_adamw_8bit")

# The share of a card's free memory a plan leaves unused: allocator fragmentation across steps,
# a longer-than-usual batch, cuDNN/cuBLAS workspaces picked at run time. A plan at 93-99 % of
# the card is an out-of-memory error waiting for the first long batch.
HEADROOM = 0.08
MARKETED_GB = 1e9               # "a 16 GB GPU": decimal gigabytes; plans count GiB (2^30 bytes)

# Constants to calibrate on a GPU (tests/bench/vram_calibration.py), in GiB or fractions.
CUDA_CONTEXT_GB = 0.75          # CUDA context, cuBLAS workspace, kernels: outside torch's allocator
CPU_RUNTIME_GB = 0.8            # Python + torch + transformers + TRL resident memory on CPU
STATIC_SLACK = 0.02             # allocator rounding on weights, gradients, optimizer states
DYNAMIC_SLACK = 0.20            # fragmentation of activations and temporaries (reserved/allocated)
CPU_DYNAMIC_SLACK = 0.35        # glibc keeps freed activation memory: peak RSS runs above live bytes
CPU_LOSS_TILE_COPIES = 9        # TRL's torch fallback of its loss kernel: peak measured at 8.6-9.4 tiles

# TRL's chunked log-prob head (trl/kernels/chunked_logprob.py).
LOSS_TOKEN_TILE = 4096
LOSS_VOCAB_TILE = 32768

# bitsandbytes NF4: 4 bits per weight plus one absmax per 64 weights, itself quantised to
# 8 bits with an fp32 constant per 256 blocks when double quantisation is on.
NF4_BYTES = 0.5 + 4 / 64
NF4_DOUBLE_QUANT_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)

LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
FUSED_TARGETS = ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")  # Phi-3
EAGER_ATTENTION_TYPES = ("gemma2",)  # no SDPA (logit soft-capping): attention scores are saved


@dataclass
class Estimate:
    method: str
    total_gb: float
    components: dict[str, float]          # GiB per named part, summing to total_gb
    device: str                           # "cuda" or "cpu"
    batch: int
    seq: int
    gradient_checkpointing: bool
    precision: str
    optimizer: str
    lora_r: int
    lora_targets: str
    trainable_params: int
    notes: list[str] = field(default_factory=list)

    def fits(self, free_gb: float | None) -> bool:
        """Fits in ``free_gb`` GiB with :data:`HEADROOM` to spare."""
        return free_gb is not None and self.total_gb <= usable(free_gb)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["total_gb"] = round(self.total_gb, 2)
        data["components"] = {k: round(v, 3) for k, v in self.components.items()}
        return data


# Each objective's share (TRL 1.16 trainers): sequences through the policy per example
# (DPO and ORPO run chosen and rejected as one concatenated batch: twice the tokens carry
# activations and gradients) and reference forward passes over those tokens (KTO: its rows
# and their mismatched KL pairs; ORPO's odds-ratio term needs no reference model).
OBJECTIVE_PASSES = {"sft": (1, 0), "dpo": (2, 1), "kto": (1, 2), "orpo": (2, 0)}


def estimate(profile: ModelProfile, method: str, batch: int, seq: int,
             gradient_checkpointing: bool, lora_r: int = 16, *, lora_targets: str = "all-linear",
             optimizer: str = "adamw_torch", precision: str = "bf16", device: str = "cuda",
             weights_dtype: str = "auto", double_quant: bool = True,
             kbit_fp32_upcast: bool = False, objective: str = "sft",
             reference: str = "auto", liger: bool = False) -> Estimate:
    """Peak memory of one training process. ``device="cpu"`` gives the RAM a CPU run needs
    (fp32, no CUDA context). QLoRA: ft-tui's runner casts the embeddings and lm_head back to the
compute dtype after PEFT's prepare step (core/training/builder.prepare_kbit);
``kbit_fp32_upcast=True`` models PEFT's step alone (all of them, and the stream, in fp32).
    ``liger``: Liger kernels (CUDA only), whose fused SwiGLU saves only its two inputs
    (LigerSiLUMulFunction recomputes the SiLU in the backward pass), so each layer keeps one
    intermediate-sized tensor fewer. Their other savings (RMSNorm, the fused loss) are not
    counted: TRL's chunked loss already avoids the full logits, and none of it has been
    calibrated on a GPU yet."""
    if method not in METHODS:
        raise ValueError(f"method {method!r}: choose one of {', '.join(METHODS)}")
    if batch < 1 or seq < 1:
        raise ValueError(f"batch ({batch}) and seq ({seq}) must be at least 1")
    cpu = device == "cpu"
    if cpu or precision == "fp32":
        precision = "fp32"
    elif precision not in ("bf16", "fp16"):
        precision = "bf16"  # "auto" on a GPU: bf16 where supported, and fp16 costs the same
    mixed = precision != "fp32"
    act = 2 if mixed else 4                      # bytes per activation element
    w = _weight_bytes(method, precision, weights_dtype)
    optimizer = optimizer if not cpu or optimizer not in EIGHT_BIT_OPTIMIZERS else "adamw_torch"
    targets = lora_target_modules(profile, lora_targets)
    n_lora = lora_param_count(profile, lora_r, lora_targets)
    p = profile
    sequences, reference_passes = OBJECTIVE_PASSES.get(objective, (1, 0))
    T = batch * seq * sequences
    notes: list[str] = []
    parts: dict[str, float] = {}

    # ----- static: weights, gradients, optimizer states --------------------------------
    if method == "full":
        trainable, trainable_bytes = p.params, w
        parts["frozen weights"] = 0.0
    else:
        trainable, trainable_bytes = n_lora, 4  # PEFT keeps adapters in fp32
        if method == "lora":
            parts["frozen weights"] = p.params * w
        else:
            q = NF4_DOUBLE_QUANT_BYTES if double_quant else NF4_BYTES
            rest = 4 if kbit_fp32_upcast else 2
            parts["frozen weights"] = p.block_linear_params * q + (p.embedding_params + p.norm_params) * rest
    parts["trainable weights"] = trainable * trainable_bytes
    parts["gradients"] = trainable * trainable_bytes
    parts["optimizer states"] = trainable * _state_bytes(optimizer, trainable_bytes)

    # ----- per token: activations and the loss head --------------------------------------
    fp32_stream = (method == "qlora" and kbit_fp32_upcast) or not mixed
    per_layer = _layer_activation_bytes(p, method, targets, act, cpu, fp32_stream, lora_r)
    if liger and not cpu:
        per_layer -= p.intermediate * (4 if fp32_stream else act)
    if p.model_type in EAGER_ATTENTION_TYPES:
        per_layer += 3 * act * p.heads * seq  # scores, soft-capped scores, probabilities
    outside = 4 * p.hidden + 2 * p.hidden * (4 if fp32_stream else act)  # embeddings, final norm
    if gradient_checkpointing:
        kept = p.layers * p.hidden * (4 if fp32_stream else act)  # each layer's input
        parts["activations"] = T * (kept + 2 * per_layer + outside)  # + the layer being recomputed
    else:
        parts["activations"] = T * ((p.layers + 1) * per_layer + outside)  # + its gradients
    if reference_passes and reference != "precomputed":
        # The reference scores the same tokens (KTO: also its mismatched KL pairs) under
        # no_grad: one layer's activations at a time, nothing kept for a backward pass.
        ref_tokens = T * reference_passes
        parts["reference forward (no gradients)"] = ref_tokens * (per_layer + outside)
        if method == "full":
            parts["reference weights (frozen copy)"] = p.params * w
            notes.append("full-fine-tuning DPO keeps a frozen reference copy of the model; "
                         "preference.reference=precomputed scores the data once instead")
        else:
            notes.append("the reference is the base with the adapter switched off: no second copy")
    if mixed and w == 4:
        parts["16-bit weight copies (autocast)"] = trainable * 2
    parts["logits"] = _loss_head_bytes(p, method, T, act, w, mixed, kbit_fp32_upcast, cpu)
    if method == "qlora":
        widest = max(p.intermediate * p.hidden, p.attn_dim * p.hidden)
        parts["4-bit dequantisation buffer"] = widest * 2
    # torch picks the foreach AdamW for CUDA tensors only; on the CPU it updates one tensor at a time.
    step = trainable * trainable_bytes if optimizer == "adamw_torch" and not cpu else 0
    dynamic = sum(v for k, v in parts.items() if k in _DYNAMIC)
    if step > dynamic:  # activations are freed by then: only the excess raises the peak
        parts["optimizer step temporaries"] = step - dynamic
        notes.append("torch AdamW (foreach) holds one more state-sized buffer in optimizer.step(); "
                     "adamw_torch_fused does not")

    # ----- overheads ----------------------------------------------------------------------
    static = sum(v for k, v in parts.items() if k not in _DYNAMIC)
    dynamic = sum(v for k, v in parts.items() if k in _DYNAMIC)
    overhead = STATIC_SLACK * static + (CPU_DYNAMIC_SLACK if cpu else DYNAMIC_SLACK) * dynamic
    parts = {k: v / GB for k, v in parts.items()}
    parts["allocator overhead"] = overhead / GB
    if cpu:
        parts["Python and libraries"] = CPU_RUNTIME_GB
        if method == "qlora":
            notes.append("QLoRA needs a CUDA GPU to be useful: on the CPU bitsandbytes is slower than LoRA")
    else:
        parts["CUDA context"] = CUDA_CONTEXT_GB
    if optimizer.startswith("paged_"):
        notes.append("paged optimizer states move to CPU RAM under memory pressure instead of failing")
    return Estimate(method=method, total_gb=sum(parts.values()), components=parts,
                    device="cpu" if cpu else "cuda", batch=batch, seq=seq,
                    gradient_checkpointing=gradient_checkpointing, precision=precision,
                    optimizer=optimizer, lora_r=lora_r, lora_targets=lora_targets,
                    trainable_params=trainable, notes=notes)


def usable(free_gb: float) -> float:
    """What a plan may use of ``free_gb`` GiB: all but the headroom."""
    return free_gb * (1 - HEADROOM)


def marketed_to_gib(gb: float) -> float:
    """A size as GPUs are sold ("16 GB", decimal) in GiB, the unit NVML and the plans count."""
    return gb * MARKETED_GB / GB


def estimate_for(cfg, profile: ModelProfile, device: str, *, method: str | None = None) -> Estimate:
    """Peak memory of one training process for a RunConfig, exactly as it would train:
    every setting that changes memory (method, batch, max_length, checkpointing, LoRA rank
    and targets, optimizer, precision, weights dtype, double quantisation) is read from
    ``cfg``. ``method`` replaces ``cfg.method`` (the Hardware step and ``ft-tui hw`` show
    all three). ``device`` is "cuda" or "cpu". The one estimate that ``ft-tui hw``, the
    Hardware step and the launch planner show."""
    return estimate(profile, method or cfg.method, cfg.training.batch_size, cfg.data.max_length,
                    cfg.training.gradient_checkpointing, cfg.lora.r,
                    lora_targets=cfg.lora_targets(), optimizer=cfg.training.optimizer,
                    precision=cfg.training.precision, device=device,
                    weights_dtype=cfg.model.dtype, double_quant=cfg.qlora.double_quant,
                    objective=cfg.objective, reference=cfg.preference.reference,
                    liger=cfg.training.use_liger_kernel)


_DYNAMIC = ("activations", "logits", "16-bit weight copies (autocast)", "4-bit dequantisation buffer",
            "optimizer step temporaries", "reference forward (no gradients)")


def lora_target_modules(profile: ModelProfile, targets: str | list[str]) -> dict[str, tuple[int, int]]:
    """{module name: (d_in, d_out)} for the adapted linears of one decoder layer."""
    p = profile
    shapes = {
        "q_proj": (p.hidden, p.attn_dim), "k_proj": (p.hidden, p.kv_dim), "v_proj": (p.hidden, p.kv_dim),
        "o_proj": (p.attn_dim, p.hidden), "gate_proj": (p.hidden, p.intermediate),
        "up_proj": (p.hidden, p.intermediate), "down_proj": (p.intermediate, p.hidden),
        "qkv_proj": (p.hidden, p.attn_dim + 2 * p.kv_dim), "gate_up_proj": (p.hidden, 2 * p.intermediate),
    }
    if isinstance(targets, str):
        text = targets.strip()
        if text in ("", "all-linear"):
            names = FUSED_TARGETS if p.model_type == "phi3" else LLAMA_TARGETS
        else:
            names = tuple(t.strip() for t in text.split(",") if t.strip())
    else:
        names = tuple(targets)
    return {name: shapes[name] for name in names if name in shapes}


def lora_param_count(profile: ModelProfile, r: int, targets: str | list[str] = "all-linear") -> int:
    """Adapter parameters: layers x r x sum(d_in + d_out) over the adapted linears."""
    modules = lora_target_modules(profile, targets)
    return profile.layers * r * sum(d_in + d_out for d_in, d_out in modules.values())


def _weight_bytes(method: str, precision: str, weights_dtype: str) -> int:
    """Bytes per weight as the runner loads them (plan/device.py resolve_precision)."""
    if weights_dtype == "float32":
        return 4
    if weights_dtype in ("bfloat16", "float16"):
        return 2
    if precision == "fp32":
        return 4
    # fp16 mixed precision needs fp32 master copies of what it trains: all of it when full.
    return 4 if precision == "fp16" and method == "full" else 2


def _state_bytes(optimizer: str, param_bytes: int) -> float:
    if optimizer in EIGHT_BIT_OPTIMIZERS:
        return 2.0   # two uint8 states; block constants are < 1 %
    if optimizer == "sgd":
        return 0.0   # the Trainer's SGD has no momentum buffer by default
    return 2.0 * param_bytes  # torch AdamW: exp_avg and exp_avg_sq in the parameter dtype


def _layer_activation_bytes(p: ModelProfile, method: str, targets: dict, act: int, cpu: bool,
                            fp32_stream: bool, lora_r: int = 16) -> float:
    """Bytes autograd keeps per token for one decoder layer."""
    h, kv, i = p.hidden, p.kv_dim, p.intermediate
    if method == "full":
        # Counted with saved-tensor hooks on a Llama block: 20h + 4kv + 8i bytes in bf16;
        # the 8h are the fp32 copies RMSNorm makes, the rest scales with the dtype.
        return 8 * h + act * (6 * h + 2 * kv + 4 * i)
    # Frozen linears save nothing for their weights; each adapted one keeps a dropout mask
    # (bool on CUDA, the input dtype on CPU) and the input lora_A sees (the 16-bit copy
    # autocast makes, or the fp32 dropout output), plus lora_A's r-wide output.
    mask = 4 if cpu else 1
    per_target = sum(d_in for d_in, _ in targets.values()) * (act + mask) + len(targets) * lora_r * act
    mlp = 3 * i * (4 if fp32_stream else act)   # gate output, SiLU output, up output
    attention = act * (2 * p.attn_dim + 2 * kv)  # what SDPA saves: q, k, v, output
    return 8 * h + attention + mlp + per_target


def _loss_head_bytes(p: ModelProfile, method: str, T: int, act: int, w: int, mixed: bool,
                     kbit_fp32_upcast: bool, cpu: bool) -> float:
    """TRL's chunked LM head: one logits tile (a Triton kernel on CUDA; on CPU its torch
    fallback holds several tile-sized temporaries), fp32 hidden-state gradients and, when
    the lm_head trains, its fp32 gradient accumulator."""
    tile = min(T, LOSS_TOKEN_TILE) * min(p.vocab, LOSS_VOCAB_TILE) * act
    tile *= CPU_LOSS_TILE_COPIES if cpu else 1
    head_dtype = 4 if (method == "qlora" and kbit_fp32_upcast) or w == 4 else 2
    cast = min(p.vocab, LOSS_VOCAB_TILE) * p.hidden * act if mixed and head_dtype != act else 0
    hidden = T * p.hidden * (4 + 2 * act)
    head_grad = p.lm_head_params * (4 + w) if method == "full" else 0
    return tile + cast + hidden + head_grad

"""Recommendations across GPU sizes and model sizes, on GPUs, planned GPUs and the CPU."""

import json

import pytest

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.plan.hardware import GpuInfo, HardwareInfo, plain_gpu_reason
from ft_tui.core.plan.model_profile import known_model
from ft_tui.core.plan.recommend import recommend

NO_GPU = HardwareInfo(gpus=[], no_gpu_reason=plain_gpu_reason("NVML: NVML Shared Library Not Found"), cpu_cores=2,
                      ram_total_gb=24.0, ram_available_gb=20.0)
SIZES = (8, 16, 24, 48, 80)


def gpu(index=0, name="NVIDIA A100", total=80.0, free=79.0, cc="8.0", bf16=True) -> GpuInfo:
    return GpuInfo(index=index, name=name, total_gb=total, free_gb=free, used_gb=total - free,
                   compute_capability=cc, bf16_supported=bf16, flash_attention_supported=bf16)


def machine(*gpus) -> HardwareInfo:
    return HardwareInfo(gpus=list(gpus), cpu_cores=16, ram_total_gb=128, ram_available_gb=120)


def plan(model: str, gb: float, **kw):
    return recommend(NO_GPU, known_model(model), gpu_memory_gb=gb, **kw)


def assert_applies(rec):
    """Every recommended value passes RunConfig validation, as the UI's Apply needs."""
    cfg = RunConfig().with_overrides(rec.settings)
    cfg.validate()
    assert 4 <= cfg.effective_batch <= 32
    return cfg


@pytest.mark.parametrize("gb", SIZES)
def test_half_billion_model_gets_lora_everywhere(gb):
    rec = plan("qwen2.5-0.5b", gb)
    assert rec.method == "lora"
    assert rec.estimate.total_gb <= gb
    assert rec.settings["training.batch_size"] >= 4
    assert_applies(rec)


@pytest.mark.parametrize("gb, methods", [(8, {"qlora"}), (16, {"lora", "qlora"}), (24, {"lora"}),
                                         (48, {"lora"}), (80, {"lora", "full"})])
def test_7b_model_by_gpu_size(gb, methods):
    rec = plan("mistral-7b", gb)
    assert rec.method in methods
    assert rec.estimate.fits(gb)
    assert_applies(rec)


def test_7b_on_8gb_explains_why_not_lora():
    rec = plan("llama-2-7b", 8)
    assert rec.method == "qlora"
    assert rec.settings["training.optimizer"] == "paged_adamw_8bit"
    assert rec.settings["training.gradient_checkpointing"] is True
    why = " ".join(rec.reasons)
    assert "QLoRA" in why and "LoRA in bf16 needs" in why and "more than there is" in why


def test_7b_on_80gb_says_full_fine_tuning_would_fit_too():
    rec = plan("llama-2-7b", 80)
    assert rec.method == "lora"
    assert any("Full fine-tuning would also fit" in r for r in rec.reasons)


@pytest.mark.parametrize("gb", (8, 16, 24))
def test_70b_on_small_gpus_fits_nothing_and_says_what_would(gb):
    rec = plan("llama-3.1-70b", gb)
    assert rec.method is None and rec.settings == {} and not rec.fits
    text = " ".join(rec.alternatives)
    assert "A GPU with at least" in text
    assert "FSDP" in text and "DeepSpeed" not in text   # ft-tui cannot launch DeepSpeed
    assert "A smaller model" in text
    assert any("Nothing fits" in r for r in rec.reasons)


def test_70b_at_48gb_is_qlora_at_most_and_80gb_is_qlora():
    rec48 = plan("llama-3.1-70b", 48)
    assert rec48.method in ("qlora", None)  # ~43 GiB at batch 1, 44.7 GiB card less 8 %: at the limit
    assert plan("llama-3.1-70b", 80).method == "qlora"
    assert plan("llama-65b", 48).method == "qlora"  # the QLoRA paper's claim


def test_shorter_max_length_is_offered_when_it_would_fit():
    rec = plan("llama-2-7b", 8, max_length=4096)
    assert rec.method is None
    assert any("A shorter max_length" in a for a in rec.alternatives)


def test_max_length_follows_the_data():
    skewed = plan("qwen2.5-0.5b", 24, token_stats={"min": 12, "median": 200, "p95": 700, "max": 3000})
    assert skewed.settings["data.max_length"] == 704
    assert "95 %" in skewed.reasons[1] and "3,000" in skewed.reasons[1]
    even = plan("qwen2.5-0.5b", 24, token_stats={"min": 12, "median": 200, "p95": 300, "max": 350})
    assert even.settings["data.max_length"] == 384
    assert "longest" in even.reasons[1]
    none = plan("qwen2.5-0.5b", 24, token_stats=None)
    assert none.settings["data.max_length"] == 512


@pytest.mark.parametrize("n", (1, 2, 8))
def test_effective_batch_stays_in_the_seeds_range(n):
    rec = plan("qwen2.5-0.5b", 80, n_gpus=n)
    s = rec.settings
    effective = s["training.batch_size"] * s["training.gradient_accumulation"] * n
    assert 4 <= effective <= 32


def test_real_gpus_choose_precision_and_use_the_fullest_gpu():
    modern = recommend(machine(gpu(free=70), gpu(1, free=20)), known_model("llama-2-7b"))
    assert modern.settings["training.precision"] == "bf16"
    assert modern.capacity_gb == 20           # DDP: every process holds a full copy
    older = recommend(machine(gpu(name="Tesla T4", total=15, free=14.5, cc="7.5", bf16=False)),
                      known_model("llama-2-7b"))
    assert older.settings["training.precision"] == "fp16"
    assert "7.5" in " ".join(older.reasons)
    assert_applies(older)


def test_no_gpu_small_model_trains_with_lora_in_fp32():
    rec = recommend(NO_GPU, known_model("smollm2-135m"))
    assert rec.method == "lora" and rec.device == "cpu"
    assert rec.settings["training.precision"] == "fp32"
    assert rec.settings["training.optimizer"] == "adamw_torch"
    why = " ".join(rec.reasons)
    assert "QLoRA needs a CUDA GPU" in why and "NVML Shared Library Not Found" in why
    assert "No GPU (no NVIDIA GPU driver was found" in why   # plain words first
    assert_applies(rec)


def test_a_cpu_with_bf16_instructions_is_planned_with_bf16_autocast():
    import dataclasses

    cpu = dataclasses.replace(NO_GPU, cpu_bf16_flags=["avx512_bf16", "amx_bf16"])
    rec = recommend(cpu, known_model("smollm2-135m"))
    assert rec.settings["training.precision"] == "auto"       # the run confirms with torch
    why = " ".join(rec.reasons)
    assert "bf16 autocast on the CPU" in why and "avx512_bf16 and amx_bf16" in why
    assert "no bf16 instructions" in " ".join(recommend(NO_GPU, known_model("smollm2-135m")).reasons)
    assert_applies(rec)


def test_no_gpu_large_model_is_called_impractical():
    rec = recommend(NO_GPU, known_model("qwen2.5-7b"))
    assert rec.method is None
    assert any("impractical" in r for r in rec.reasons)
    assert any("--gpu-memory" in a for a in rec.alternatives)


def test_recommendation_serialises():
    json.dumps(plan("llama-2-7b", 24, token_stats={"p95": 500, "max": 600}).to_dict())
    json.dumps(plan("llama-3.1-70b", 24).to_dict())

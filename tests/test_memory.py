"""The memory estimator: parts against hand-computed values, activations against what
autograd really saves, and the published figures it must reproduce."""

import json

import pytest

from ft_tui.core.plan.memory import (CPU_RUNTIME_GB, HEADROOM, CUDA_CONTEXT_GB, GB, NF4_BYTES, NF4_DOUBLE_QUANT_BYTES,
                                estimate, lora_param_count)
from ft_tui.core.plan.model_profile import ModelProfile, known_model

GIB = 1024 ** 3
DECIMAL_GB = 1e9

# A small Llama: hidden 64, 4 heads of 16 (2 KV heads), MLP 128, 2 layers, vocab 400.
SMALL = ModelProfile("small", params=99_648, layers=2, hidden=64, heads=4, kv_heads=2, head_dim=16,
                     intermediate=128, vocab=400, tied_embeddings=True, dtype="float32", source="test")
LLAMA2_7B = known_model("llama-2-7b")


def test_lora_parameter_count_by_hand_and_by_peft(tiny_model_dir):
    # q 64+64, k 64+32, v 64+32, o 64+64, gate 64+128, up 64+128, down 128+64 = 1024 per rank
    assert lora_param_count(SMALL, 8) == 2 * 8 * 1024
    assert lora_param_count(SMALL, 8, "q_proj,v_proj") == 2 * 8 * (128 + 96)

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert lora_param_count(SMALL, 8) == trainable


def test_full_bf16_is_8_bytes_per_parameter_plus_the_adamw_step_buffer():
    est = estimate(LLAMA2_7B, "full", 1, 512, True, optimizer="adamw_torch")
    c = est.components
    p = LLAMA2_7B.params
    assert c["trainable weights"] == pytest.approx(p * 2 / GB)
    assert c["gradients"] == pytest.approx(p * 2 / GB)
    assert c["optimizer states"] == pytest.approx(p * 4 / GB)     # two bf16 AdamW states
    assert c["frozen weights"] == 0
    # foreach AdamW needs one more state-sized buffer at step time; fused AdamW does not.
    step_peak = c["activations"] + c["logits"] + c["optimizer step temporaries"]
    assert step_peak == pytest.approx(p * 2 / GB)
    fused = estimate(LLAMA2_7B, "full", 1, 512, True, optimizer="adamw_torch_fused")
    assert "optimizer step temporaries" not in fused.components
    assert est.total_gb > fused.total_gb


def test_full_with_fp32_master_weights_costs_16_bytes_plus_autocast_copies():
    est = estimate(SMALL, "full", 1, 64, False, precision="fp16")
    c = est.components
    assert c["trainable weights"] + c["gradients"] + c["optimizer states"] == pytest.approx(SMALL.params * 16 / GB)
    assert c["16-bit weight copies (autocast)"] == pytest.approx(SMALL.params * 2 / GB)
    eight_bit = estimate(SMALL, "full", 1, 64, False, precision="fp16", optimizer="paged_adamw_8bit")
    assert eight_bit.components["optimizer states"] == pytest.approx(SMALL.params * 2 / GB)


def test_lora_keeps_the_base_in_16_bit_and_adapters_in_fp32():
    est = estimate(LLAMA2_7B, "lora", 1, 512, True)
    n = lora_param_count(LLAMA2_7B, 16)
    c = est.components
    assert c["frozen weights"] == pytest.approx(LLAMA2_7B.params * 2 / GB)
    assert c["trainable weights"] == pytest.approx(n * 4 / GB)
    assert c["gradients"] == pytest.approx(n * 4 / GB)
    assert c["optimizer states"] == pytest.approx(n * 8 / GB)
    assert est.trainable_params == n


def test_qlora_weights_are_nf4_blocks_and_16_bit_embeddings():
    """ft-tui casts the embeddings back to the compute dtype after PEFT's fp32 upcast
    (builder.prepare_kbit); kbit_fp32_upcast=True models PEFT's step alone."""
    p = LLAMA2_7B
    rest = p.embedding_params + p.norm_params
    est = estimate(p, "qlora", 1, 512, True, kbit_fp32_upcast=True)
    assert est.components["frozen weights"] == pytest.approx(
        (p.block_linear_params * NF4_DOUBLE_QUANT_BYTES + rest * 4) / GB)
    single = estimate(p, "qlora", 1, 512, True, double_quant=False)
    assert single.components["frozen weights"] == pytest.approx(
        (p.block_linear_params * NF4_BYTES + rest * 2) / GB)
    assert NF4_DOUBLE_QUANT_BYTES == pytest.approx(0.516, abs=0.001)   # ~4.13 bits per weight


def test_activations_scale_with_tokens_and_checkpointing_keeps_one_layer():
    a1 = estimate(LLAMA2_7B, "lora", 1, 512, False).components["activations"]
    a4 = estimate(LLAMA2_7B, "lora", 4, 512, False).components["activations"]
    assert a4 == pytest.approx(4 * a1)
    with_ckpt = estimate(LLAMA2_7B, "lora", 4, 512, True).components["activations"]
    assert with_ckpt < a4 / 5
    # Full fine-tuning of a Llama block in bf16: 20h + 4 kv_dim + 8i bytes per token per layer.
    h, kv, i, L = 4096, 4096, 11008, 32
    full = estimate(LLAMA2_7B, "full", 1, 512, False).components["activations"]
    per_layer = 20 * h + 4 * kv + 8 * i
    assert full == pytest.approx(512 * ((L + 1) * per_layer + 8 * h) / GB)


@pytest.mark.parametrize("method", ["full", "lora"])
def test_activation_formula_matches_what_autograd_saves(method):
    """Count the bytes autograd keeps for 1 and 3 decoder layers (fp32, CPU) and compare
    the per-layer difference with the estimator's per-layer term."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from ft_tui.core.config.settings import RunConfig
    from ft_tui.core.training.builder import apply_method

    def saved_bytes(layers: int) -> int:
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=400, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                             num_attention_heads=4, num_key_value_heads=2)
        model = apply_method(LlamaForCausalLM(config), RunConfig().with_overrides({"method": method}))
        model.train()
        weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
        kept: dict[int, int] = {}

        def pack(t):
            storage = t.untyped_storage()
            if storage.data_ptr() not in weights:
                kept[storage.data_ptr()] = storage.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model.model(input_ids=torch.randint(0, 400, (2, 16)))
        return sum(kept.values())

    measured = (saved_bytes(3) - saved_bytes(1)) / 2 / 32          # per layer per token
    tokens = 4096
    a = estimate(SMALL, method, 1, tokens, False, precision="fp32", device="cpu").components["activations"]
    b = estimate(SMALL, method, 2, tokens, False, precision="fp32", device="cpu").components["activations"]
    per_token = (b - a) * GB / tokens
    outside = 4 * 64 + 2 * 64 * 4
    formula = (per_token - outside) / (SMALL.layers + 1)
    assert formula == pytest.approx(measured, rel=0.02)


def test_chunked_loss_head_does_not_grow_with_the_vocabulary_times_tokens():
    llama3 = known_model("llama-3.1-8b")
    short = estimate(llama3, "lora", 4, 2048, True).components["logits"]
    long = estimate(llama3, "lora", 8, 2048, True).components["logits"]
    # Only the fp32 hidden-state gradients (and their bf16 copies) grow: 8 bytes x hidden per token.
    assert (long - short) * GB == pytest.approx(8192 * llama3.hidden * (4 + 2 * 2))
    assert short < 1.0  # the old batch x seq x vocab x 14 B rule would say 14.7 GB


def test_rule_of_thumb_table_for_7b():
    """The common rule-of-thumb 7B row: full ~56 GB (8 B/param: weights, gradients, two AdamW states, all
    16-bit, no activations), LoRA ~18 GB, QLoRA ~8 GB."""
    full = estimate(LLAMA2_7B, "full", 1, 512, True)
    static = sum(full.components[k] for k in ("trainable weights", "gradients", "optimizer states"))
    assert static * GIB / DECIMAL_GB == pytest.approx(56, rel=0.10)
    fused = estimate(LLAMA2_7B, "full", 1, 512, True, optimizer="adamw_torch_fused")
    assert fused.total_gb * GIB / DECIMAL_GB == pytest.approx(56, rel=0.10)
    lora = estimate(LLAMA2_7B, "lora", 4, 512, True)
    assert lora.total_gb * GIB / DECIMAL_GB == pytest.approx(18, rel=0.15)
    qlora = estimate(LLAMA2_7B, "qlora", 4, 512, True, optimizer="paged_adamw_8bit")
    assert qlora.total_gb * GIB / DECIMAL_GB == pytest.approx(8, rel=0.25)


def test_qlora_paper_65b_fits_one_48gb_gpu():
    est = estimate(known_model("llama-65b"), "qlora", 1, 512, True, optimizer="paged_adamw_8bit")
    assert est.fits(48)


def test_70b_qlora_does_not_fit_24gb_despite_the_common_claim():
    llama70 = known_model("llama-3.1-70b")
    est = estimate(llama70, "qlora", 1, 256, True, optimizer="paged_adamw_8bit")
    assert not est.fits(24)
    nf4_alone = llama70.block_linear_params * NF4_DOUBLE_QUANT_BYTES
    assert nf4_alone / DECIMAL_GB == pytest.approx(35, rel=0.05)


def test_cpu_estimate_is_fp32_ram_without_cuda_context():
    est = estimate(SMALL, "lora", 4, 256, False, optimizer="paged_adamw_8bit", precision="bf16", device="cpu")
    assert est.device == "cpu" and est.precision == "fp32" and est.optimizer == "adamw_torch"
    assert "CUDA context" not in est.components
    assert est.components["Python and libraries"] == CPU_RUNTIME_GB
    assert est.components["frozen weights"] == pytest.approx(SMALL.params * 4 / GB)
    gpu = estimate(SMALL, "lora", 4, 256, False)
    assert gpu.components["CUDA context"] == CUDA_CONTEXT_GB


def test_total_is_the_sum_of_its_parts_and_serialises():
    est = estimate(LLAMA2_7B, "qlora", 2, 1024, True)
    assert est.total_gb == pytest.approx(sum(est.components.values()))
    card = est.total_gb / (1 - HEADROOM)   # a plan keeps HEADROOM of the card free
    assert est.fits(card) and not est.fits(card - 0.01) and not est.fits(est.total_gb)
    assert not est.fits(None)
    json.dumps(est.to_dict())


def test_bad_method_or_sizes_raise_value_error():
    with pytest.raises(ValueError, match="method"):
        estimate(SMALL, "prefix", 1, 64, False)
    with pytest.raises(ValueError, match="batch"):
        estimate(SMALL, "lora", 0, 64, False)


# ----- the GPU calibration script (tests/bench/vram_calibration.py), parts that need no GPU -----

def _calibration_module():
    import importlib.util
    import sys
    from pathlib import Path

    if "vram_calibration" in sys.modules:
        return sys.modules["vram_calibration"]
    path = Path(__file__).parent / "bench" / "vram_calibration.py"
    spec = importlib.util.spec_from_file_location("vram_calibration", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["vram_calibration"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_calibration_grid_and_subsets():
    cal = _calibration_module()
    full = cal.parse_args([])
    grid = cal.build_grid(full.models, full.methods, full.batches, full.seqs, (False, True))
    assert len(grid) == 3 * 3 * 2 * 2 * 2 and len({c.key for c in grid}) == len(grid)
    quick = cal.parse_args(["--quick"])
    assert len(cal.build_grid(quick.models, quick.methods, quick.batches, quick.seqs, (False, True))) == 12
    some = cal.parse_args(["--models", "qwen2.5-0.5b", "--methods", "lora", "--batches", "4", "--seqs", "512"])
    assert [c.key for c in cal.build_grid(some.models, some.methods, some.batches, some.seqs, (True,))] == [
        "qwen2.5-0.5b|lora|b4|s512|gc1"]


def test_calibration_table_and_goals():
    cal = _calibration_module()

    def row(method, estimate_gb, measured_gb, state="done"):
        case = cal.Case("smollm2-135m", method, 1, 512, False)
        return {"case": case.__dict__, "key": case.key, "state": state, "estimate_gb": estimate_gb,
                "measured_gb": measured_gb}

    rows = [row("full", 11.0, 10.0), row("lora", 9.0, 10.0), row("qlora", 7.0, 10.0),
            row("qlora", 5.0, None, state="failed")]
    summary = cal.summarize(rows)
    assert summary["n"] == 3
    assert summary["median"] == pytest.approx(10.0) and summary["worst"] == pytest.approx(30.0)
    assert summary["under"] == pytest.approx(30.0)
    assert summary["pass"] == {"median": True, "worst": False, "under": False}
    table = cal.markdown_table(rows, "cuda")
    assert "| smollm2-135m | full | 1 | 512 | off | 11.00 | 10.00 | +10.0% |" in table
    assert "| failed |" in table and "MISSED" in table


def test_calibration_without_cuda_says_so_and_measures_nothing(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the script would really run")
    cal = _calibration_module()
    assert cal.main(["--quick"]) == 0
    assert "no CUDA GPU here" in capsys.readouterr().err


def test_liger_saves_one_intermediate_tensor_per_layer_and_token_on_cuda_only():
    from ft_tui.core.plan.memory import estimate

    p = known_model("llama-3.1-8b")
    plain = estimate(p, "lora", 4, 1024, False)
    liger = estimate(p, "lora", 4, 1024, False, liger=True)
    saved = (plain.components["activations"] - liger.components["activations"]) * GB
    # (layers + 1) layer copies (the gradients too) x 4096 tokens x intermediate x 2 bytes
    assert saved == pytest.approx((p.layers + 1) * 4 * 1024 * p.intermediate * 2, rel=1e-6)
    assert liger.components["frozen weights"] == plain.components["frozen weights"]
    cpu = estimate(p, "lora", 4, 1024, False, device="cpu")
    assert estimate(p, "lora", 4, 1024, False, device="cpu", liger=True).total_gb == cpu.total_gb

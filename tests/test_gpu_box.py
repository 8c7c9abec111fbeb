"""ft-tui on the GPU boxes its users train on, through `ft-tui hw` and `ft-tui train --dry-run`,
with NVML and torch.cuda simulated (tests/fixtures/fake_gpu.py). One test (or a few) per
decision the first real box would get wrong."""

import json
import os
import sys
import types
from pathlib import Path

import pytest

from ft_tui.cli import main
from ft_tui.core.config.settings import RunConfig
from tests.fixtures.fake_gpu import gpu_box  # noqa: F401  (the fixture)

# The shapes of two public configs (meta-llama/Llama-3.1-8B-Instruct and google/gemma-2-2b-it,
# config.json on the Hugging Face hub; Llama 3.1 Community License / Gemma Terms of Use):
# only the sizes the memory planner reads, no weights.
LLAMA_8B = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
            "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
            "intermediate_size": 14336, "vocab_size": 128256, "tie_word_embeddings": False,
            "max_position_embeddings": 131072, "torch_dtype": "bfloat16"}
GEMMA2_2B = {"model_type": "gemma2", "architectures": ["Gemma2ForCausalLM"], "hidden_size": 2304,
             "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
             "head_dim": 256, "intermediate_size": 9216, "vocab_size": 256000,
             "tie_word_embeddings": True, "max_position_embeddings": 8192, "torch_dtype": "float32"}


@pytest.fixture
def model_folder(tmp_path):
    def make(shape: dict, name: str):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(shape))
        return folder
    return make


@pytest.fixture
def sample(tmp_path):
    """A config over the bundled sample data, writing runs under tmp_path."""
    def make(model, **training):
        cfg = RunConfig().with_overrides({"model.name": str(model), "output_dir": str(tmp_path / "runs"),
                                          **{f"training.{k}": v for k, v in training.items()}})
        path = tmp_path / "run.yaml"
        cfg.save(path)
        return path
    return make


def dry_run(capsys, *argv):
    code = main(["train", *map(str, argv), "--dry-run", "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def hw(capsys, *argv):
    code = main(["hw", *map(str, argv), "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


# ----- 1. bf16 only where the GPU has it natively -------------------------------------------

@pytest.mark.parametrize("profile, cc", [("t4", "7.5"), ("v100", "7.0")])
def test_t4_and_v100_train_in_fp16_not_emulated_bf16(gpu_box, capsys, model_folder, sample, profile, cc):
    import torch

    gpu_box(profile)
    assert torch.cuda.is_bf16_supported() is True        # torch counts emulation on sm_7x
    config = sample(model_folder(LLAMA_8B, "llama8b"))
    code, pf, _ = dry_run(capsys, config, "--method", "qlora")
    assert pf["device"] == "cuda" and pf["precision"] == "fp16"
    assert cc in pf["precision_reason"] and "no native bf16" in pf["precision_reason"]
    assert "computing in float16" in pf["precision_reason"]          # QLoRA compute follows
    assert pf["attention"].startswith("sdpa")                         # never FA2 on Turing


def test_qlora_compute_follows_an_explicit_fp16_on_ampere(gpu_box):
    from ft_tui.core.plan.device import detect_device, resolve_precision

    gpu_box("4090")
    cfg = RunConfig().with_overrides({"method": "qlora", "training.precision": "fp16"})
    precision = resolve_precision(cfg, detect_device())
    assert (precision.mode, precision.compute_dtype) == ("fp16", "float16")


def test_eval_and_chat_load_fp16_on_a_t4_and_bf16_on_a_4090(gpu_box):
    import torch

    from ft_tui.core.models.generation import inference_device_and_dtype

    gpu_box("t4")
    assert inference_device_and_dtype() == ("cuda", torch.float16)
    gpu_box("4090")
    assert inference_device_and_dtype() == ("cuda", torch.bfloat16)


def test_exported_script_asks_for_native_bf16():
    from ft_tui.core.export import script

    text = script.__loader__.get_source(script.__name__)
    assert "is_bf16_supported()" not in text and "including_emulation=False" in text


# ----- 2. NVML sees a GPU, torch cannot (and the reverse) ----------------------------------

def test_cpu_wheel_on_a_gpu_box_is_refused_with_the_install_line(gpu_box, capsys, sample, tiny_model_dir):
    gpu_box("4090", torch_cuda=False, torch_build=None)
    config = sample(tiny_model_dir)
    code, pf, _ = dry_run(capsys, config)
    assert code == 1 and pf["ok"] is False
    problem = pf["problems"][0]
    assert "RTX 4090" in problem and "CPU-only build" in problem and "2.13" in problem
    assert "download.pytorch.org/whl/cu124" in problem and "--cpu" in problem

    code = main(["train", str(config)])                        # refused before any loading
    err = capsys.readouterr().err
    assert code == 2 and "torch cannot use it" in err and not (config.parent / "runs").exists()

    code, pf, _ = dry_run(capsys, config, "--cpu")              # --cpu: on purpose
    assert code == 0 and pf["device"] == "cpu"


def test_wheel_newer_than_the_driver_names_both_cuda_versions(gpu_box, capsys, sample, tiny_model_dir):
    gpu_box("t4", torch_cuda=False, torch_build="12.8", driver_cuda=12020)
    code, pf, _ = dry_run(capsys, sample(tiny_model_dir))
    assert code == 1 and "built for CUDA 12.8" in pf["problems"][0] and "CUDA 12.2" in pf["problems"][0]


def test_cuda_without_nvml_takes_the_gpu_facts_from_torch(gpu_box, capsys):
    gpu_box("4090", nvml=False)
    code, data = hw(capsys, "--model", "qwen2.5-1.5b")
    assert [g["name"] for g in data["gpus"]] == ["NVIDIA GeForce RTX 4090"]
    assert data["plan"]["device"] == "cuda" and data["gpus"][0]["compute_capability"] == "8.9"
    assert data["plan"]["capacity_gb"] == pytest.approx((24564 - 420) / 1024, abs=0.01)


# ----- 3. MIG, UUIDs, CUDA's device order ---------------------------------------------------

@pytest.mark.parametrize("root", [True, False])
def test_a_mig_slice_is_planned_as_the_slice(gpu_box, capsys, root):
    gpu_box("a100-mig", root=root)
    code, data = hw(capsys, "--model", "qwen2.5-1.5b")
    assert len(data["gpus"]) == 1 and data["gpus"][0]["mig_profile"] == "1g.10gb"
    assert data["plan"]["device"] == "cuda" and data["plan"]["capacity_gb"] < 10


def test_a_gpu_uuid_in_cuda_visible_devices_selects_that_gpu(gpu_box, capsys, monkeypatch):
    box = gpu_box("2xt4")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", box.gpus[1].uuid[:12])   # a unique prefix
    code, data = hw(capsys, "--model", "qwen2.5-1.5b")
    assert len(data["gpus"]) == 1 and data["gpus"][0]["uuid"] == box.gpus[1].uuid


@pytest.mark.parametrize("order, expected", [(None, "RTX 4090"), ("PCI_BUS_ID", "RTX 3060")])
def test_device_0_is_the_card_cuda_calls_0(gpu_box, capsys, monkeypatch, sample, tiny_model_dir,
                                           order, expected):
    gpu_box("3060+4090")
    if order:
        monkeypatch.setenv("CUDA_DEVICE_ORDER", order)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    code, data = hw(capsys, "--model", "qwen2.5-1.5b")
    assert [g["name"] for g in data["gpus"]] == [f"NVIDIA GeForce {expected}"]
    code, pf, _ = dry_run(capsys, sample(tiny_model_dir))
    assert [g["name"] for g in pf["gpus"]] == [f"NVIDIA GeForce {expected}"]


# ----- 4. headroom, GiB ------------------------------------------------------------------------

def test_a_16_gb_t4_plan_leaves_headroom(gpu_box, capsys):
    gpu_box("t4")
    code, data = hw(capsys, "--model", "llama-3.1-8b")
    rec = data["recommendation"]
    free = data["plan"]["capacity_gb"]
    assert rec["method"] == "qlora" and rec["estimate"]["total_gb"] <= 0.92 * free
    code, planned = hw(capsys, "--model", "llama-3.1-8b", "--gpu-memory", "16")
    assert planned["plan"]["capacity_gb"] == pytest.approx(14.90, abs=0.01)    # 16e9 bytes in GiB
    assert planned["recommendation"]["estimate"]["total_gb"] <= 0.92 * 14.90


def test_a_smaller_batch_without_checkpointing_beats_a_bigger_one_with_it():
    from ft_tui.core.plan.hardware import HardwareInfo
    from ft_tui.core.plan.model_profile import known_model
    from ft_tui.core.plan.recommend import recommend

    rec = recommend(HardwareInfo(), known_model("qwen2.5-7b"), gpu_memory_gb=40, max_length=512)
    assert rec.method == "lora"
    assert rec.estimate.gradient_checkpointing is False and rec.estimate.batch == 2
    assert rec.reasons and "Gradient checkpointing off" in " ".join(rec.reasons)


# ----- 5. OOM advice from the card, not from what the failed process still holds ---------------

def test_oom_advice_plans_from_the_whole_card(gpu_box):
    from ft_tui.core.training.failures import oom_advice

    box = gpu_box("4090")
    box.gpus[0].used_mib = 23000          # this (failed) process still holds it
    cfg = RunConfig().with_overrides({"model.name": "llama-3.1-8b", "method": "lora",
                                      "data.max_length": 1024})
    advice = oom_advice(cfg)
    assert "no setting fits" not in advice and advice.startswith("The memory planner suggests")


def test_oom_advice_counts_the_objective(gpu_box):
    from ft_tui.core.training.failures import oom_advice

    gpu_box("t4")
    base = {"model.name": "qwen2.5-1.5b", "method": "lora", "data.max_length": 2048,
            "training.batch_size": 16}
    sft = oom_advice(RunConfig().with_overrides(base))
    dpo = oom_advice(RunConfig().with_overrides({**base, "objective": "dpo"}))
    assert sft != dpo


# ----- 6. QLoRA runs are evaluated and chatted with in 4-bit; merging checks RAM -----------------

def test_a_qlora_runs_base_loads_in_4bit_for_eval(gpu_box):
    import torch

    from ft_tui.core.models.generation import FourBit, inference_device_and_dtype

    gpu_box("t4")
    device, dtype = inference_device_and_dtype("qlora")
    assert device == "cuda" and dtype == FourBit(torch.float16)
    assert inference_device_and_dtype("lora")[1] == torch.float16


def test_generation_halves_the_batch_on_out_of_memory(tiny_model_dir):
    from ft_tui.core.models.generation import generate_greedy, load_for_inference
    from ft_tui.core.models.resolve import load_tokenizer

    model = load_for_inference(tiny_model_dir, device="cpu", dtype=__import__("torch").float32)
    tokenizer = load_tokenizer(tiny_model_dir)
    real, sizes = model.generate, []

    def generate(**kw):
        sizes.append(kw["input_ids"].shape[0])
        if kw["input_ids"].shape[0] > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(**kw)

    model.generate = generate
    answers = generate_greedy(model, tokenizer, [f"prompt {i}" for i in range(8)], max_new_tokens=2,
                              batch_size=8)
    assert len(answers) == 8 and sizes[:3] == [8, 4, 2] and max(sizes[2:]) == 2


def test_merge_refuses_when_ram_cannot_hold_the_base(tmp_path, monkeypatch, tiny_model_dir):
    import torch

    from ft_tui.core.export import run as export_run
    from ft_tui.core.export.run import ExportError

    monkeypatch.setattr("ft_tui.core.plan.hardware.ram_gb", lambda: (12.7, 0.5))
    with pytest.raises(ExportError, match="merging needs about .* GiB of RAM"):
        export_run._check_merge_ram(tiny_model_dir, torch.float32)


# ----- 7. attention ------------------------------------------------------------------------------

def test_gemma2_is_left_to_transformers_not_forced_to_sdpa(gpu_box, capsys, model_folder, sample):
    from ft_tui.core.plan.device import detect_device, pick_attention

    gpu_box("4090")
    config = sample(model_folder(GEMMA2_2B, "gemma2"))
    code, pf, _ = dry_run(capsys, config)
    assert pf["attention"].startswith("eager")
    assert pick_attention(RunConfig(), detect_device()) is None      # transformers decides


def test_a_bare_flash_attn_module_is_not_flash_attention(gpu_box, monkeypatch, tmp_path):
    from ft_tui.core.plan.device import detect_device, pick_attention

    gpu_box("h100")
    (tmp_path / "flash_attn").mkdir()
    (tmp_path / "flash_attn" / "__init__.py").write_text("")       # no flash-attn distribution
    monkeypatch.syspath_prepend(str(tmp_path))
    assert pick_attention(RunConfig(), detect_device()) is None
    monkeypatch.setattr("transformers.utils.is_flash_attn_2_available", lambda: True)
    assert pick_attention(RunConfig(), detect_device()) == "flash_attention_2"


# ----- 8. packing only with FlashAttention-2 -------------------------------------------------------

def test_packing_without_flash_attention_pads_and_says_so(gpu_box, capsys, sample, tiny_model_dir):
    gpu_box("t4")
    code, pf, _ = dry_run(capsys, sample(tiny_model_dir, packing=True))
    assert any("packing needs FlashAttention-2" in w for w in pf["warnings"])


def test_the_trainer_pads_instead_of_packing_without_flash_attention(tmp_path):
    from ft_tui.core.training.builder import build_sft_config
    from ft_tui.core.plan.device import DeviceInfo, resolve_precision

    cfg = RunConfig().with_overrides({"training.packing": True})
    device = DeviceInfo.cpu()      # the trainer's arguments, built where no FA2 runs
    args = build_sft_config(cfg, tmp_path, resolve_precision(cfg, device), device,
                            has_eval=False, completion_only=False)
    assert args.packing is False and args.padding_free is False


# ----- 9. QLoRA: checkpointing on, embeddings in the compute dtype --------------------------------

def test_qlora_turns_checkpointing_on_unless_the_config_says(gpu_box, capsys, sample, tiny_model_dir):
    gpu_box("t4")
    config = sample(tiny_model_dir)
    code, pf, _ = dry_run(capsys, config, "--method", "qlora")
    assert pf["estimate"]["gradient_checkpointing"] is True
    code, pf, _ = dry_run(capsys, config, "--method", "qlora", "--set",
                          "training.gradient_checkpointing=false")
    assert pf["estimate"]["gradient_checkpointing"] is False


def test_prepare_kbit_puts_embeddings_back_in_the_compute_dtype(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from ft_tui.core.training.builder import prepare_kbit

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.bfloat16)
    model.config.quantization_config = types.SimpleNamespace(bnb_4bit_compute_dtype=torch.bfloat16)
    model.is_loaded_in_4bit = True          # what bitsandbytes' loader marks; PEFT upcasts then
    cfg = RunConfig().with_overrides({"method": "qlora"})
    model = prepare_kbit(model, cfg)
    assert model.get_input_embeddings().weight.dtype == torch.bfloat16
    assert model.get_output_embeddings().weight.dtype == torch.bfloat16
    norms = [p.dtype for n, p in model.named_parameters() if "norm" in n]
    assert norms and all(d == torch.float32 for d in norms)        # PEFT's fp32 norms stay


# ----- 10. the preflight refuses what cannot fit, with the planner's fix --------------------------

def test_a_run_that_cannot_fit_is_refused_before_loading(gpu_box, capsys, model_folder, sample):
    gpu_box("4090")
    config = sample(model_folder(LLAMA_8B, "llama8b"), batch_size=8)
    code, pf, _ = dry_run(capsys, config, "--method", "full")
    assert code == 1 and pf["fits"] is False and pf["margin_gb"] < 0
    assert pf["fix"] and "method=lora" in pf["fix"][0]
    assert pf["gpus"][0]["name"] == "NVIDIA GeForce RTX 4090" and pf["headroom"] == 0.08

    code = main(["train", str(config), "--method", "full"])
    err = capsys.readouterr().err
    assert code == 2 and "would run out of memory" in err and "method=lora" in err
    assert not (config.parent / "runs").exists()


def test_dry_run_text_says_device_precision_attention_and_memory(gpu_box, capsys, sample, tiny_model_dir):
    gpu_box("h100")
    code = main(["train", str(sample(tiny_model_dir)), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    for line in ("Device: CUDA, torch will use cuda:0 NVIDIA H100", "Precision: bf16",
                 "native bf16 (compute capability 9.0", "Attention: sdpa", "Method: lora (SFT)",
                 "usable with 8% headroom: fits"):
        assert line in out, out


# ----- the GPU proof script stops cleanly without a CUDA torch --------------------------------------

def test_gpu_proof_says_what_is_missing_without_cuda(tmp_path):
    import subprocess

    out = tmp_path / "proof.jsonl"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "tests/bench/gpu_proof.py", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=300,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 2, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["stage"] for r in rows] == ["env"] and rows[0]["ok"] is False
    assert any("a CUDA GPU usable by torch" in m for m in rows[0]["missing"])
    assert "Traceback" not in proc.stderr and "missing:" in proc.stderr

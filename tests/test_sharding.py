"""DDP or FSDP, decided on what FSDP shards; the GPUs a launched run uses, pinned.

FSDP shards weights, gradients and optimizer states, never activations: a run whose
activations do not fit gets the batch/checkpointing advice, not FSDP. QLoRA is refused for
FSDP with the reason (accelerate leaves uint8 4-bit weights unsharded). A full fine-tune
under FSDP counts fp32 trainable parameters (accelerate upcasts them)."""

import dataclasses
from types import SimpleNamespace

import pytest
import yaml

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.errors import SetupError
from ft_tui.core.plan.hardware import GpuInfo, HardwareInfo
from ft_tui.core.plan.memory import GB, estimate_for
from ft_tui.core.plan.model_profile import model_profile
from ft_tui.core.plan.sharding import decide, split
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training.launch import choose_gpus, launch_command, plan_for


def _gpu(index, name="NVIDIA A100-SXM4-80GB", total=80.0, used=0.5):
    return GpuInfo(index, name, total, total - used, used, compute_capability="8.0", bf16_supported=True)


@pytest.fixture
def machine(monkeypatch):
    def use(*gpus):
        hw = HardwareInfo(gpus=list(gpus), ram_total_gb=512.0, ram_available_gb=500.0)
        monkeypatch.setattr("ft_tui.core.plan.hardware.probe", lambda output_dir=".": hw)
        return SimpleNamespace(gpu_count=len(gpus))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return use


def _cfg(**settings):
    return RunConfig.from_dict({"model": {"name": "llama-3.1-8b"}, **settings})


def test_activations_that_do_not_fit_get_the_batch_advice_not_fsdp(machine):
    # LoRA on a bf16 8B model: 16 GB of weights, but batch 64 x 4096 tokens of activations.
    cfg = _cfg(method="lora", training={"batch_size": 64, "gradient_checkpointing": False},
               data={"max_length": 4096})
    plan = plan_for(cfg, machine(_gpu(0), _gpu(1)))
    assert plan.strategy == "ddp"
    assert "not activations" in plan.reason and "training.batch_size" in plan.reason


def test_weights_that_do_not_fit_are_sharded_with_fsdp(machine):
    cfg = _cfg(method="full", model={"name": "llama-3.1-8b"},
               training={"batch_size": 1, "gradient_checkpointing": True}, data={"max_length": 512})
    plan = plan_for(cfg, machine(_gpu(0), _gpu(1)))
    assert (plan.strategy, plan.num_processes, plan.gpus) == ("fsdp", 2, (0, 1))
    assert "FSDP shards them over 2 GPUs" in plan.reason and "fp32" in plan.reason


def test_full_fine_tuning_under_fsdp_counts_fp32_trainable_parameters():
    cfg = _cfg(method="full", training={"batch_size": 1, "gradient_checkpointing": True,
                                        "precision": "bf16"})
    est = estimate_for(cfg, model_profile("llama-3.1-8b"), "cuda")
    shardable, _ = split(est)
    # bf16 on one GPU: 2 B weights + 2 B grads + 4 B AdamW; FSDP holds 4 + 4 + 8 per parameter.
    assert shardable == pytest.approx(est.trainable_params * 16 / GB)
    one_gpu = sum(est.components[k] for k in ("trainable weights", "gradients", "optimizer states"))
    assert shardable > 1.9 * one_gpu
    verdict = decide(est, 48.0, 2)   # bf16 needs ~65 GB on one GPU
    assert verdict.strategy == "fsdp" and verdict.per_gpu_gb > shardable / 2


def test_qlora_is_refused_for_fsdp_with_the_reason(machine):
    cfg = _cfg(method="qlora", model={"name": "llama-3.1-70b"},
               training={"batch_size": 1, "gradient_checkpointing": True}, data={"max_length": 512})
    with pytest.raises(SetupError) as caught:
        plan_for(cfg, machine(_gpu(0, total=24.0), _gpu(1, total=24.0)))
    message = str(caught.value)
    assert "FSDP cannot help" in message and "bnb_4bit_quant_storage" in message
    assert "--method lora" in message


def test_busy_and_mismatched_gpus_are_left_out_and_the_rest_pinned(machine, tmp_path):
    device = machine(_gpu(0), _gpu(1, used=60.0), _gpu(2), _gpu(3, name="Tesla T4", total=16.0))
    plan = plan_for(_cfg(method="lora"), device)
    assert (plan.num_processes, plan.gpus) == (2, (0, 2))
    assert "GPU 1 (busy" in plan.reason and "GPU 3 (Tesla T4, not NVIDIA A100" in plan.reason
    cmd = launch_command(plan, RunDir.create(tmp_path, "r"), resume=False, port=1)
    assert cmd[:3] == ["env", "CUDA_DEVICE_ORDER=PCI_BUS_ID", "CUDA_VISIBLE_DEVICES=0,2"]
    assert "--cpu" not in cmd


def test_one_process_on_a_two_gpu_box_is_launched_on_one_pinned_gpu(machine, tmp_path):
    """In-process, the Trainer would wrap the model in nn.DataParallel over both GPUs."""
    plan = plan_for(_cfg(method="lora"), machine(_gpu(0, used=30.0), _gpu(1)), requested=1)
    assert (plan.num_processes, plan.strategy, plan.gpus) == (1, "single", (1,))
    assert plan.distributed          # session.start_run launches it instead of training here
    run = RunDir.create(tmp_path, "r")
    cmd = launch_command(plan, run, resume=False, port=1)
    assert "CUDA_VISIBLE_DEVICES=1" in cmd
    config = yaml.safe_load((run.path / "accelerate.yaml").read_text())
    assert (config["distributed_type"], config["num_processes"]) == ("NO", 1)


def test_gpu_choice_respects_cuda_visible_devices_given_by_uuid(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-1234,GPU-5678")
    assert choose_gpus([_gpu(0), _gpu(1)]) == ([], [])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    chosen, left = choose_gpus([_gpu(0, used=70.0), _gpu(1, used=75.0)])   # all busy: use them
    assert [g.index for g in chosen] == [0, 1] and left == []


def test_more_processes_than_gpus_is_refused_with_the_count(machine):
    with pytest.raises(SetupError, match="--num-processes 3: this machine has 2 GPUs"):
        plan_for(_cfg(method="lora"), machine(_gpu(0), _gpu(1)), requested=3)


def test_cpu_runs_pin_nothing():
    plan = plan_for(_cfg(method="lora"), SimpleNamespace(gpu_count=2), requested=2, force_cpu=True)
    assert (plan.cpu, plan.gpus, plan.strategy) == (True, None, "ddp")
    assert dataclasses.replace(plan).env() == {}


def test_the_accelerate_ft_tui_allows_saves_fsdp2_adapters_from_every_rank(tiny_model_dir, monkeypatch):
    """accelerate PR #4206: under FSDP2 a PEFT adapter's full state dict comes from torch's
    get_model_state_dict (gathered from every rank's shard), not from PEFT's reading of the
    local shard, which kept only rank 0's slice. Required version: pyproject.toml."""
    import accelerate
    from accelerate.utils import fsdp_utils
    from packaging.version import Version
    from peft import LoraConfig, get_peft_model
    from torch.distributed.checkpoint import state_dict as dcp_state_dict
    from transformers import AutoModelForCausalLM

    assert Version(accelerate.__version__) >= Version("1.16")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=4, target_modules=["q_proj"]))
    asked = {}

    def gathered(module, options=None):
        asked["options"] = options
        return {"gathered": True}

    monkeypatch.setattr(dcp_state_dict, "get_model_state_dict", gathered)
    options = dcp_state_dict.StateDictOptions(full_state_dict=True)
    assert fsdp_utils._get_model_state_dict(model, adapter_only=True, sd_options=options) == {"gathered": True}
    assert asked["options"].full_state_dict and asked["options"].ignore_frozen_params

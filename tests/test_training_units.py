"""The training engine's small decisions, each checked without training anything."""

import json
from pathlib import Path

import pytest

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.events import RunFinished, RunStarted, StepLog
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training.dataset import build_train_data
from ft_tui.core.errors import SetupError
from ft_tui.core.plan.device import DeviceInfo, resolve_precision
from ft_tui.core.training.failures import generic_oom_advice, is_out_of_memory
from ft_tui.core.training.launch import launch_command, plan_launch
from ft_tui.core.training.meter import StepMeter
from ft_tui.core.training.resume import carried_from_metrics, truncate_metrics

CUDA_BF16 = DeviceInfo(True, True, 1, "cuda")
CUDA_OLD = DeviceInfo(True, False, 1, "cuda")
CPU = DeviceInfo.cpu()
CPU_BF16 = DeviceInfo.cpu(bf16=True, reason="bf16 autocast on the CPU: it has amx_bf16")


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_meter_measures_tokens_per_second_between_logs_and_eta_from_recent_steps():
    clock = FakeClock()
    meter = StepMeter(10, start_tokens=1000, elapsed_before=50.0, clock=clock)
    for _ in range(2):
        clock.now += 2.0
        meter.step_done()
    r = meter.read(2, 1400)
    assert r.tokens_per_s == pytest.approx(100.0)      # 400 new tokens in 4 s, not 1400
    assert r.eta_s == pytest.approx(8 * 2.0)
    assert r.elapsed_s == pytest.approx(54.0)          # continues from the earlier session
    clock.now += 1.0
    meter.step_done()
    assert meter.read(3, 1600).tokens_per_s == pytest.approx(200.0)


@pytest.mark.parametrize("device,method,mode,weights", [
    (CPU, "lora", "fp32", "float32"),
    (CPU_BF16, "lora", "bf16", "float32"),   # CPU autocast: weights stay fp32
    (CPU_BF16, "full", "bf16", "float32"),
    (CUDA_BF16, "lora", "bf16", "bfloat16"),
    (CUDA_OLD, "lora", "fp16", "float16"),
    (CUDA_OLD, "full", "fp16", "float32"),   # fp16 AMP needs fp32 master weights
])
def test_auto_precision_follows_the_hardware(device, method, mode, weights):
    p = resolve_precision(RunConfig(method=method), device)
    assert (p.mode, p.weights_dtype) == (mode, weights)
    assert p.bf16 == (mode == "bf16") and p.fp16 == (mode == "fp16")


def test_explicit_precision_the_hardware_cannot_do_is_a_clear_error():
    with pytest.raises(SetupError, match="training.precision: 'bf16' needs a CUDA GPU or a CPU with bf16"):
        resolve_precision(RunConfig().with_overrides({"training.precision": "bf16"}), CPU)
    with pytest.raises(SetupError, match="'fp16' needs a CUDA GPU"):
        resolve_precision(RunConfig().with_overrides({"training.precision": "fp16"}), CPU_BF16)
    assert resolve_precision(RunConfig().with_overrides({"training.precision": "bf16"}), CPU_BF16).bf16
    with pytest.raises(SetupError, match="not supported by this GPU"):
        resolve_precision(RunConfig().with_overrides({"training.precision": "bf16"}), CUDA_OLD)


def test_qlora_compute_dtype_falls_back_without_bf16():
    cfg = RunConfig(method="qlora")
    assert resolve_precision(cfg, CUDA_BF16).compute_dtype == "bfloat16"
    assert resolve_precision(cfg, CUDA_OLD).compute_dtype == "float16"
    assert resolve_precision(cfg, CPU).compute_dtype == "float32"


class Ex:
    """Duck-typed like the data engine's Example."""

    def __init__(self, user, answer, system=None):
        self.messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user}, {"role": "assistant", "content": answer, "weight": 1}]

    def prompt_messages(self):
        return self.messages[:-1]

    def completion_messages(self):
        return self.messages[-1:]


def test_rows_split_prompt_from_completion_and_add_the_system_prompt():
    train = [Ex("printer jammed", "technical"), Ex("charged twice", "billing", system="Own.")]
    held = [Ex(f"q{i}", f"a{i}") for i in range(5)]
    data = build_train_data(train, held, completion_only=True, system_prompt="Classify.")
    assert data.shape == "prompt_completion"
    assert data.train_rows[0] == {
        "prompt": [{"role": "system", "content": "Classify."}, {"role": "user", "content": "printer jammed"}],
        "completion": [{"role": "assistant", "content": "technical"}]}
    assert data.train_rows[1]["prompt"][0] == {"role": "system", "content": "Own."}  # kept, not doubled
    assert len(data.eval_rows) == 5
    assert [s["reference"] for s in data.sample_prompts] == ["a0", "a1", "a2"]   # fixed: first three
    assert data.sample_prompts[0]["messages"][-1] == {"role": "user", "content": "q0"}


def test_whole_conversation_loss_uses_messages_rows():
    data = build_train_data([Ex("hi", "hello")], [], completion_only=False)
    assert data.shape == "messages"
    assert data.train_rows == [{"messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "hello"}]}]


def _sft(cfg, **kw):
    from ft_tui.core.training.builder import build_sft_config

    args = dict(has_eval=True, completion_only=True)
    args.update(kw)
    return build_sft_config(cfg, Path("/tmp/ckpt"), resolve_precision(cfg, CPU), CPU, **args)


def test_cpu_bf16_runs_as_transformers_cpu_autocast():
    from ft_tui.core.training.builder import build_sft_config

    cfg = RunConfig()
    args = build_sft_config(cfg, Path("/tmp/ckpt"), resolve_precision(cfg, CPU_BF16), CPU_BF16,
                            has_eval=True, completion_only=True)
    # bf16 + use_cpu: accelerate wraps each forward in torch.autocast("cpu", bfloat16).
    assert args.bf16 is True and args.use_cpu is True and args.mixed_precision == "bf16"
    assert _sft(cfg).use_cpu is False     # fp32 CPU runs leave the device choice alone


def test_sft_config_sets_what_trl_defaults_differently():
    args = _sft(RunConfig())
    assert args.bf16 is False and args.fp16 is False           # TRL's bf16 default fails on CPU
    assert args.gradient_checkpointing is False                # TRL turns it on by default
    assert args.include_num_input_tokens_seen == "non_padding"
    assert args.logging_nan_inf_filter is False
    assert args.report_to in ("none", [], ["none"])
    assert args.eval_strategy == "steps" and args.eval_steps == 10
    assert args.load_best_model_at_end is False
    on = _sft(RunConfig().with_overrides({"training.gradient_checkpointing": True}))
    assert on.gradient_checkpointing is True


def test_early_stopping_lines_saves_up_with_evaluations():
    cfg = RunConfig().with_overrides({"training.early_stopping_patience": 2,
                                      "training.eval_steps": 10, "training.save_steps": 25})
    args = _sft(cfg)
    assert args.load_best_model_at_end and args.metric_for_best_model == "eval_loss"
    assert args.save_steps == 30
    assert _sft(cfg, has_eval=False).eval_strategy == "no"


def test_truncating_metrics_keeps_what_the_checkpoint_covers(tmp_path):
    run = RunDir.create(tmp_path, "r")
    run.append_event(RunStarted(run_dir=str(run.path), total_steps=10))
    for step in range(1, 8):
        run.append_event(StepLog(step=step, loss=1.0 / step, elapsed_s=float(step)))
    run.append_event(RunFinished("failed", 7, "killed"))
    dropped = truncate_metrics(run, 4)
    kinds = [(d["type"], d.get("step")) for d in run.iter_metric_dicts()]
    assert dropped == 3
    assert kinds == [("start", None), *[("log", s) for s in range(1, 5)], ("end", 7)]
    carried = carried_from_metrics(run)
    assert carried.elapsed_s == 4.0 and [s for s, _ in carried.train_losses] == [1, 2, 3, 4]
    assert all(json.loads(line) for line in run.metrics_path.read_text().splitlines())


def test_out_of_memory_is_recognised_and_advice_names_settings():
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(ValueError("out of memory"))
    advice = generic_oom_advice(RunConfig())
    assert "training.batch_size to 2" in advice and "gradient_accumulation to 8" in advice
    assert "gradient_checkpointing" in advice and "data.max_length to 256" in advice
    assert "qlora" in advice


def test_launch_plan_uses_one_process_per_gpu_and_fsdp_when_the_planner_says_shard():
    from ft_tui.core.plan.sharding import Sharding

    assert plan_launch(gpu_count=0).num_processes == 1
    assert plan_launch(gpu_count=1).strategy == "single"
    assert (plan_launch(gpu_count=4).num_processes, plan_launch(gpu_count=4).strategy) == (4, "ddp")
    assert plan_launch(gpu_count=4, sharding=Sharding("fsdp", "shard")).strategy == "fsdp"
    assert plan_launch(gpu_count=4, force_cpu=True).num_processes == 1
    cpu2 = plan_launch(gpu_count=0, requested=2)
    assert (cpu2.num_processes, cpu2.strategy, cpu2.cpu) == (2, "ddp", True)


def test_launch_command_runs_the_worker_through_accelerate_with_the_runs_own_config(tmp_path):
    import yaml

    run = RunDir.create(tmp_path, "r")
    cmd = launch_command(plan_launch(gpu_count=0, requested=2), run, resume=True, port=29555)
    text = " ".join(cmd)
    assert f"-m accelerate.commands.launch --config_file {run.path / 'accelerate.yaml'}" in text
    assert f"-m ft_tui.core.training.worker --run-dir {run.path} --resume --cpu" in text
    ddp = yaml.safe_load((run.path / "accelerate.yaml").read_text())
    assert (ddp["distributed_type"], ddp["num_processes"], ddp["num_machines"]) == ("MULTI_GPU", 2, 1)
    assert ddp["main_process_port"] == 29555 and "fsdp_config" not in ddp
    from ft_tui.core.plan.sharding import Sharding

    launch_command(plan_launch(gpu_count=2, sharding=Sharding("fsdp", "shard")), run, resume=False, port=1)
    fsdp = yaml.safe_load((run.path / "accelerate.yaml").read_text())
    assert fsdp["distributed_type"] == "FSDP" and fsdp["fsdp_config"]["fsdp_version"] == 2
    assert fsdp["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"


def test_out_of_memory_advice_comes_from_the_memory_planner_when_it_can_say():
    from ft_tui.core.training.failures import oom_advice

    heavy = RunConfig(method="full").with_overrides({"training.batch_size": 64,
                                                     "data.max_length": 4096})
    advice = oom_advice(heavy)
    assert advice.startswith("The memory planner suggests:")
    assert "training.batch_size=" in advice and "64" not in advice.split("batch_size=")[1][:3]


def test_attention_auto_takes_flash_attention_only_where_it_runs():
    from ft_tui.core.plan.device import pick_attention

    cfg = RunConfig()
    assert pick_attention(cfg, CUDA_BF16, flash_installed=True) == "flash_attention_2"
    # None: transformers chooses per model class (sdpa, or eager for Gemma-2 / gpt-oss)
    assert pick_attention(cfg, CUDA_BF16, flash_installed=False) is None
    assert pick_attention(cfg, CUDA_OLD, flash_installed=True) is None       # pre-Ampere
    assert pick_attention(cfg, CPU_BF16, flash_installed=True) is None
    flash = RunConfig().with_overrides({"model.attention": "flash_attention_2"})
    with pytest.raises(SetupError, match="flash-attn package is not installed"):
        pick_attention(flash, CUDA_BF16, flash_installed=False)
    with pytest.raises(SetupError, match="no CUDA GPU"):
        pick_attention(flash, CPU, flash_installed=True)
    eager = RunConfig().with_overrides({"model.attention": "eager"})
    assert pick_attention(eager, CPU) == "eager"


def test_liger_kernels_are_refused_where_they_cannot_run():
    from ft_tui.core.plan.device import check_liger

    on = RunConfig().with_overrides({"training.use_liger_kernel": True})
    assert check_liger(RunConfig(), CPU) is False
    assert check_liger(on, CUDA_BF16, installed=True) is True
    with pytest.raises(SetupError, match="need a CUDA GPU"):
        check_liger(on, CPU_BF16, installed=True)
    with pytest.raises(SetupError, match="liger-kernel package is not installed"):
        check_liger(on, CUDA_BF16, installed=False)

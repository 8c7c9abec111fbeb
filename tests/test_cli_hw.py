"""`ft-tui hw`: the --json contract, the readable report and the exit codes."""

import json

import pytest

from ft_tui.cli import main
from ft_tui.core.config.settings import RunConfig
from ft_tui.core.plan.hardware import GpuInfo, HardwareInfo
from ft_tui.core.models.resolve import default_gguf_path

ROOT_DATA = "sample_data/formats/prompt_completion.jsonl"
NO_GPU = HardwareInfo(gpus=[], no_gpu_reason="NVML: NVML Shared Library Not Found. Training runs on "
                      "the CPU only", cpu_cores=2, ram_total_gb=24.0, ram_available_gb=20.0,
                      disk_free_gb=50.0, disk_path="/tmp")
TWO_GPUS = HardwareInfo(gpus=[
    GpuInfo(0, "NVIDIA GeForce RTX 4090", 23.99, 22.5, 1.49, 37.0, 61.0, 215.5, "8.9", True, True,
            "550.54.15", "12.4"),
    GpuInfo(1, "NVIDIA GeForce RTX 4090", 23.99, 23.9, 0.09, 0.0, 40.0, None, "8.9", True, True,
            "550.54.15", "12.4"),
], cpu_cores=16, ram_total_gb=128.0, ram_available_gb=120.0, disk_free_gb=900.0, disk_path="/data")


@pytest.fixture
def machine(monkeypatch):
    """Pretend the probe sees ``hw`` (the CLI imports probe from core.hardware at run time)."""
    def use(hw: HardwareInfo):
        monkeypatch.setattr("ft_tui.core.plan.hardware.probe", lambda output_dir=".": hw)
    use(NO_GPU)
    return use


def run_json(capsys, *argv) -> tuple[int, dict]:
    code = main(["hw", *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.mark.skipif(default_gguf_path() is None, reason="the embedded default model is not installed")
def test_json_contract_on_a_machine_without_gpu(machine, capsys):
    code, data = run_json(capsys)
    assert code == 0
    assert data["gpus"] == [] and "NVML Shared Library Not Found" in data["no_gpu_reason"]
    assert data["model"]["params"] == pytest.approx(134.5e6, rel=0.001)
    assert data["plan"]["device"] == "cpu" and data["plan"]["capacity_gb"] == 20.0
    assert data["estimates"]["qlora"]["fits"] is False                  # no CUDA here
    assert "needs a CUDA GPU" in data["estimates"]["qlora"]["blocked"]
    for method in ("full", "lora", "qlora"):
        est = data["estimates"][method]
        assert isinstance(est["fits"], bool) and est["total_gb"] > 0
        assert est["total_gb"] == pytest.approx(sum(est["components"].values()), abs=0.05)
        assert "CUDA context" not in est["components"]       # a RAM plan on this machine
    rec = data["recommendation"]
    assert rec["method"] == "lora" and rec["settings"]["training.precision"] == "fp32"
    assert rec["reasons"] and rec["alternatives"] == []
    RunConfig().with_overrides(rec["settings"]).validate()   # what the UI's Apply does


def test_planning_70b_for_a_24gb_gpu_fits_nothing(machine, capsys):
    code, data = run_json(capsys, "--model", "llama-3.1-70b", "--gpu-memory", "24")
    assert code == 1                                         # nothing fits
    # "24 GB" as GPUs are sold is 22.35 GiB
    assert data["plan"]["device"] == "cuda" and data["plan"]["capacity_gb"] == pytest.approx(22.35, abs=0.01)
    assert not any(data["estimates"][m]["fits"] for m in ("full", "lora", "qlora"))
    assert data["estimates"]["qlora"]["components"]["frozen weights"] > 24
    rec = data["recommendation"]
    assert rec["method"] is None and rec["settings"] == {}
    assert any("FSDP" in a for a in rec["alternatives"])


def test_planning_7b_for_an_8gb_gpu_recommends_qlora(machine, capsys):
    code, data = run_json(capsys, "--model", "mistralai/Mistral-7B-Instruct-v0.3", "--gpu-memory", "8")
    assert code == 0
    assert data["recommendation"]["method"] == "qlora"
    assert data["model"]["name"] == "Mistral-7B"


def test_seq_fixes_max_length_and_the_estimates(machine, capsys):
    code, data = run_json(capsys, "--model", "qwen2.5-0.5b", "--gpu-memory", "24", "--seq", "1024",
                          "--batch", "2", "--gradient-checkpointing")
    assert code == 0
    assert data["plan"]["seq"] == 1024 and data["estimates"]["lora"]["seq"] == 1024
    assert data["estimates"]["lora"]["batch"] == 2 and data["estimates"]["lora"]["gradient_checkpointing"]
    assert data["recommendation"]["settings"]["data.max_length"] == 1024


def test_data_token_lengths_choose_max_length(machine, capsys, tiny_model_dir):
    code, data = run_json(capsys, "--model", str(tiny_model_dir), "--data", ROOT_DATA)
    assert code == 0
    stats = data["plan"]["token_stats"]
    assert stats["p95"] > 0 and stats["max"] >= stats["p95"]
    length = data["recommendation"]["settings"]["data.max_length"]
    assert length % 64 == 0 and length >= stats["p95"]


def test_readable_report_with_two_gpus(machine, capsys):
    machine(TWO_GPUS)
    code = main(["hw", "--model", "qwen2.5-1.5b"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("GeForce RTX") >= 2 and "CUDA 12.4" in out
    assert "Recommended: lora" in out and "effective batch" in out
    assert "frozen weights" in out and "fits" in out


def test_unknown_model_is_one_line_and_exit_2(machine, capsys):
    code = main(["hw", "--model", "nobody/nothing-like-this", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("ft-tui: --model:") and "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["--gpu-memory", "-3"], ["--seq", "10"], ["--batch", "zero"],
                                  ["--gpus", "0"]])
def test_bad_flags_are_usage_errors(machine, capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(["hw", *argv])
    assert exc.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_missing_data_file_is_a_usage_error(machine, capsys, tiny_model_dir):
    code = main(["hw", "--model", str(tiny_model_dir), "--data", "no/such/file.jsonl"])
    assert code == 2 and "no such file" in capsys.readouterr().err


def test_each_method_says_at_which_settings_it_fits(machine, capsys):
    """An 8B model on a 24 GB GPU at batch 4 without checkpointing: no method fits as asked,
    but the table says where LoRA and QLoRA do fit, agreeing with the recommendation."""
    code, data = run_json(capsys, "--model", "meta-llama/Llama-3.1-8B", "--gpu-memory", "24")
    assert code == 0
    est, rec = data["estimates"], data["recommendation"]
    assert not any(est[m]["fits"] for m in ("full", "lora", "qlora"))
    assert est["full"]["fits_at"] is None and "fits at no batch size" in est["full"]["verdict"]
    lora = est["lora"]["fits_at"]
    assert lora["total_gb"] <= 24 and f"fits at batch {lora['batch']}" in est["lora"]["verdict"]
    assert rec["method"] == "lora" and rec["settings"]["training.batch_size"] == lora["batch"]
    assert rec["settings"]["training.gradient_checkpointing"] == lora["gradient_checkpointing"]
    main(["hw", "--model", "meta-llama/Llama-3.1-8B", "--gpu-memory", "24"])
    out = capsys.readouterr().out
    assert "fits at" in out and "+ ckpt" in out


@pytest.mark.skipif(default_gguf_path() is None, reason="the embedded default model is not installed")
def test_lora_above_full_on_the_cpu_says_why(machine, capsys):
    code, data = run_json(capsys)
    full, lora = data["estimates"]["full"], data["estimates"]["lora"]
    assert lora["total_gb"] > full["total_gb"]
    assert "LoRA needs more than full fine-tuning here" in lora["note"] and "activations +" in lora["note"]
    assert full["note"] == ""

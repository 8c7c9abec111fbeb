"""One memory estimate: `ft-tui hw`, the wizard's Hardware step and the multi-GPU launch
planner read every memory-relevant setting from the run config the same way."""

import dataclasses
import json
from types import SimpleNamespace

import pytest

from ft_tui.cli import main
from ft_tui.core.config.settings import RunConfig
from ft_tui.core.plan.hardware import HardwareInfo
from ft_tui.core.errors import SetupError
from ft_tui.core.training.launch import plan_for
from ft_tui.core.plan.memory import HEADROOM
from ft_tui.tui.steps import hardware_work
from tests.test_cli_hw import TWO_GPUS


def _one_gpu(total_gb: float) -> HardwareInfo:
    gpu = dataclasses.replace(TWO_GPUS.gpus[0], total_gb=total_gb, free_gb=total_gb,
                              used_gb=0.0)
    return dataclasses.replace(TWO_GPUS, gpus=[gpu])


def _two_gpus(total_gb: float) -> HardwareInfo:
    one = _one_gpu(total_gb).gpus[0]
    return dataclasses.replace(TWO_GPUS, gpus=[one, dataclasses.replace(one, index=1)])


@pytest.mark.parametrize("settings", [
    {"method": "full", "model": {"name": "llama-3.1-8b", "dtype": "float32"}},    # fp32 weights
    {"method": "qlora", "model": {"name": "llama-3.1-8b"}, "qlora": {"double_quant": False},
     "lora": {"r": 64, "target_modules": "q_proj,v_proj"}, "training": {"optimizer": "adamw_torch_fused"}},
])
def test_hw_hardware_step_and_launcher_agree(settings, tmp_path, monkeypatch, capsys):
    config = tmp_path / "run.yaml"
    cfg = RunConfig.from_dict(settings)
    cfg.save(config)
    monkeypatch.setattr("ft_tui.core.plan.hardware.probe", lambda output_dir=".": _one_gpu(200.0))

    main(["hw", "--config", str(config), "--json"])
    out, err = capsys.readouterr()
    assert out, err
    cli = json.loads(out)["estimates"][cfg.method]["total_gb"]

    wizard = hardware_work.plan(cfg.model.name, cfg, None, None)["estimates"][cfg.method].total_gb
    assert wizard == pytest.approx(cli, abs=0.01)
    if cfg.method == "full":   # 16 B/param for fp32 weights + AdamW: far above the 80 GB of bf16
        assert cli > 150

    # The launcher's verdict on two such GPUs flips from DDP exactly at that number plus the headroom.
    two = SimpleNamespace(gpu_count=2)
    card = cli / (1 - HEADROOM)
    monkeypatch.setattr("ft_tui.core.plan.hardware.probe", lambda output_dir=".": _two_gpus(card + 0.05))
    assert plan_for(cfg, two).strategy == "ddp"
    monkeypatch.setattr("ft_tui.core.plan.hardware.probe", lambda output_dir=".": _two_gpus(card - 0.05))
    if cfg.method == "full":
        assert plan_for(cfg, two).strategy == "fsdp"
    else:   # QLoRA is not sharded by FSDP as ft-tui loads it: refused with the reason
        with pytest.raises(SetupError, match="QLoRA .* FSDP cannot help"):
            plan_for(cfg, two)

"""The Hardware step with a fixed machine (the probe is replaced) and the tiny model."""

import pytest
from textual.widgets import Input, Select, Static

from ft_tui.core.plan.hardware import GpuInfo, HardwareInfo, plain_gpu_reason
from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.messages import ConfigChanged, GoToStep, StepCompleted
from ft_tui.tui.steps import hardware_work
from ft_tui.tui.steps.hardware import HardwareStep
from ft_tui.tui.widgets.memory_bars import MemoryBars
from tests.tui.render_text import plain

pytestmark = pytest.mark.anyio


class FakeMachine:
    """Stands in for NVML/psutil; tests change it between probes."""

    def __init__(self, gpus=()):
        self.gpus = list(gpus)

    def __call__(self, output_dir="."):
        return HardwareInfo(
            gpus=[GpuInfo(**vars(g)) for g in self.gpus],
            # as probe() words it
            no_gpu_reason=None if self.gpus else plain_gpu_reason("NVML: NVML Shared Library Not Found"),
            cpu_cores=8, ram_total_gb=16.0, ram_available_gb=12.0, disk_free_gb=100.0,
            disk_path="/data", system="Linux x86_64")


@pytest.fixture()
def machine(monkeypatch):
    fake = FakeMachine()
    monkeypatch.setattr(hardware_work, "probe_machine", fake)
    return fake


@pytest.fixture()
def app(tmp_path, monkeypatch, tiny_model_dir, machine):
    monkeypatch.chdir(tmp_path)
    app = FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))
    app.state.cfg = app.state.cfg.with_overrides({"model.name": str(tiny_model_dir)})
    return app


async def _settle(app, pilot):
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def test_no_gpu_says_why_and_plans_for_ram_then_apply_writes_the_config(app):
    seen = []
    async with app.run_test(size=(120, 36), message_hook=seen.append) as pilot:
        await pilot.press("3")
        await _settle(app, pilot)
        step = app.query_one(HardwareStep)
        machine_text = plain(step.query_one("#machine", Static))
        assert "No GPU: no NVIDIA GPU driver was found" in machine_text
        assert "RAM 12.0 GB free of 16.0 GB" in machine_text and "8 CPU cores" in machine_text

        bars = plain(step.query_one(MemoryBars))
        assert "available RAM, training on CPU" in bars
        for method in ("full", "lora", "qlora"):
            assert method in bars
        # QLoRA is not offered as "fits" without CUDA: it is marked as unable to run here.
        assert bars.count("✓ fits") == 2 and "← recommended" in bars
        assert "qlora" in bars.split("✗ cannot run here")[0].splitlines()[-1]
        assert "QLoRA needs a CUDA GPU" in bars
        assert "activations" in bars   # the breakdown is shown

        recommendation = plain(step.query_one("#recommendation", Static))
        assert "Method: lora" in recommendation and "fp32" in recommendation

        await pilot.press("a")
        await pilot.pause()
        assert app.state.cfg.training.precision == "fp32"   # a CPU run: TRL refuses bf16
        assert app.state.cfg.method == "lora"
        assert any(isinstance(m, ConfigChanged) and not m.forwarded for m in seen)
        assert "same" in plain(step.query_one("#recommendation", Static))

        await pilot.press("c")
        await pilot.pause()
    assert any(isinstance(m, StepCompleted) and m.step_id == "hardware" for m in seen)
    assert any(isinstance(m, GoToStep) and m.step_id == "configure" for m in seen)


async def test_gpu_table_follows_the_probe(app, machine):
    machine.gpus = [GpuInfo(index=0, name="NVIDIA A10G", total_gb=24.0, free_gb=20.0,
                            used_gb=4.0, utilization_pct=37.0)]
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await _settle(app, pilot)
        step = app.query_one(HardwareStep)
        text = plain(step.query_one("#machine", Static))
        assert "NVIDIA A10G" in text and "4.0 / 24.0 GB" in text and "37%" in text
        assert "free on GPU 0" in plain(step.query_one(MemoryBars))

        machine.gpus[0].used_gb, machine.gpus[0].utilization_pct = 18.5, 99.0
        step.machine_timer.reset()
        step._refresh_machine()          # what the one-second timer does
        text = plain(step.query_one("#machine", Static))
        assert "18.5 / 24.0 GB" in text and "99%" in text


async def test_planning_for_a_small_gpu_shows_what_does_not_fit(app):
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await _settle(app, pilot)
        step = app.query_one(HardwareStep)
        gpu_gb = step.query_one("#gpu-gb", Input)
        gpu_gb.value = "0.05"
        gpu_gb.focus()
        await pilot.press("enter")
        await _settle(app, pilot)
        bars = plain(step.query_one(MemoryBars))
        assert "planned GPU" in bars and "✗ needs" in bars
        assert "Nothing fits" in plain(step.query_one("#recommendation", Static))


async def test_choosing_a_model_folder_updates_the_config_and_a_bad_path_is_refused(
        app, tiny_model_dir, tmp_path):
    seen = []
    async with app.run_test(size=(120, 36), message_hook=seen.append) as pilot:
        await pilot.press("3")
        await _settle(app, pilot)
        step = app.query_one(HardwareStep)
        assert step.query_one("#model-kind", Select).value == "local"
        name = step.query_one("#model-name", Input)
        assert name.value == str(tiny_model_dir)

        name.value = str(tmp_path / "no-such-model")
        name.focus()
        await pilot.press("enter")
        await _settle(app, pilot)
        assert "no such file or folder" in plain(step.query_one("#model-info", Static))
        assert app.state.cfg.model.name == str(tiny_model_dir)   # unchanged

        step.query_one("#model-kind", Select).value = "default"
        await _settle(app, pilot)
        assert app.state.cfg.model.name == "default"
        assert "SmolLM2-135M-Instruct: 135M parameters" in plain(
            step.query_one("#model-info", Static))
        assert any(isinstance(m, ConfigChanged) and not m.forwarded for m in seen)


async def test_dpo_objective_shows_cores_dpo_estimate_and_replans_when_it_changes(app):
    """With objective dpo the bars are core's DPO estimate (chosen and rejected through the
    policy, the reference pass without gradients), and switching back to SFT replans."""
    from ft_tui.core.plan.memory import estimate_for
    from ft_tui.core.plan.model_profile import model_profile
    from ft_tui.tui.widgets.memory_bars import _gb

    app.state.cfg = app.state.cfg.with_overrides({"objective": "dpo"})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await _settle(app, pilot)
        step = app.query_one(HardwareStep)
        bars = plain(step.query_one(MemoryBars))
        assert "Peak memory for DPO with your config's batch" in bars
        assert "reference forward (no gradients)" in bars
        profile = model_profile(app.state.cfg.model.name)
        dpo = estimate_for(app.state.cfg, profile, "cpu", method="lora")
        assert _gb(dpo.total_gb) in bars
        assert "DPO" in plain(step.query_one("#recommendation", Static))

        app.state.cfg = app.state.cfg.with_overrides({"objective": "sft"})
        step.on_show_step()
        await _settle(app, pilot)
        bars = plain(step.query_one(MemoryBars))
        assert "for DPO" not in bars and "reference forward" not in bars
        sft = estimate_for(app.state.cfg, profile, "cpu", method="lora")
        assert sft.total_gb < dpo.total_gb and _gb(sft.total_gb) in bars


async def test_a_hub_id_is_described_then_downloaded_with_a_progress_bar(
        tmp_path, monkeypatch, tiny_model_dir, machine):
    """The model field takes org/name: the step says what the model is, shows the download's
    bytes, speed and ETA with a bar, then plans for the downloaded model."""
    import huggingface_hub.constants as constants
    from textual.widgets import ProgressBar

    from tests.fixtures.hub_server import HubServer

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", constants.HF_HUB_OFFLINE)   # restored after
    monkeypatch.chdir(tmp_path)
    app = FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))
    seen = []
    with HubServer({"org/tiny": tiny_model_dir}, throttle=200_000) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        async with app.run_test(size=(120, 36), message_hook=seen.append) as pilot:
            await pilot.press("3")
            await _settle(app, pilot)
            step = app.query_one(HardwareStep)
            step.query_one("#model-kind", Select).value = "hub"
            await pilot.pause()
            name = step.query_one("#model-name", Input)
            name.value = "org/tiny"
            await name.action_submit()
            await _settle(app, pilot)
            info = plain(step.query_one("#model-info", Static))
            bar = step.query_one("#download", ProgressBar)
    fetching = [m for m in seen if isinstance(m, HardwareStep.Fetching)]
    assert fetching[0].total is None and "org/tiny: 99,648 parameters" in fetching[0].line
    assert "not gated" in fetching[0].line and "licence apache-2.0" in fetching[0].line
    assert any("Downloading org/tiny:" in m.line and "ETA" in m.line for m in fetching[1:])
    assert bar.total == bar.progress == fetching[-1].total   # the bar reached the end
    assert app.state.cfg.model.name == "org/tiny"
    assert "at " in info and "models--org--tiny" in info     # planned from the downloaded files


def test_a_missing_nvml_library_reads_as_no_nvidia_driver():
    from ft_tui.core.plan.hardware import plain_gpu_reason

    said = plain_gpu_reason("NVML Shared Library Not Found. Training runs on the CPU only")
    assert said.startswith("no NVIDIA GPU driver was found") and "CPU only" in said
    assert plain_gpu_reason(said) == said   # said once, not twice
    assert plain_gpu_reason("CUDA_VISIBLE_DEVICES='' hides all") == "CUDA_VISIBLE_DEVICES='' hides all"


async def test_after_a_relaunch_max_length_is_still_planned_from_the_data(app, tmp_path):
    """In tmux, a relaunched wizard's Hardware step (Data not visited yet) recommended
    max_length 512, 'no token lengths from your data yet', and Apply would have undone the
    256 it had planned from the same file before."""
    from ft_tui.core.wizard_file import remembered_token_stats, token_stats_record

    data = tmp_path / "train.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}, '
                    '{"role": "assistant", "content": "hello"}]}\n')
    model = app.state.cfg.model.name
    app.state.cfg = app.state.cfg.with_overrides({"data.train_path": str(data)})
    app.state.data_tokens = token_stats_record(data, model, {"p95": 186, "max": 195, "median": 167})
    app.state.save()
    again = FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))   # the relaunch
    assert again.state.data_tokens == app.state.data_tokens
    async with again.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await _settle(again, pilot)
        recommendation = plain(again.query_one(HardwareStep).query_one("#recommendation", Static))
        assert "covers the longest example (195 tokens" in recommendation
    # measured on another model's tokenizer, or on a file changed since: not used
    record = app.state.data_tokens
    assert remembered_token_stats(record, data, "other-model") is None
    data.write_text(data.read_text() * 2)
    assert remembered_token_stats(record, data, model) is None

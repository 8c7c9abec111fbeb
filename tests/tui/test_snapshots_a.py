"""Snapshots of the shell and the Decide, Data, Hardware and Configure steps at 100x30.

Regenerate after an intended change with
`python -m pytest tests/tui/test_snapshots_a.py --snapshot-update` and look at the SVGs.
Machine-dependent parts (the hardware probe) are replaced by fixed values.
"""

import json

import pytest

from ft_tui.tui.app import FtTuiApp

SIZE = (100, 30)


@pytest.fixture()
def app(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))


def test_shell_opens_on_the_first_question(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE)


def test_decide_verdict_for_a_knowledge_gap(app, snap_compare):
    assert snap_compare(app, press=["n", "y"], terminal_size=SIZE)


def test_decide_verdict_fine_tune(app, snap_compare):
    assert snap_compare(app, press=["n", "n", "y", "n", "n", "y"], terminal_size=SIZE)


def test_configure_form(app, snap_compare):
    assert snap_compare(app, press=["4"], terminal_size=SIZE)


def test_configure_with_a_refused_value(app, snap_compare):
    async def type_bad_rate(pilot):
        await pilot.press("4")
        step = pilot.app.query_one("#configure")
        step.form.ensure_built()          # built after the first refresh; do not race it
        await pilot.pause()
        step.query_one("#cfg-data--max_length").value = "8"   # below the minimum of 32
        await pilot.pause()
        step.query_one("#config-form").scroll_to_widget(
            step.query_one("#cfg-data--max_length"), animate=False, top=True)
        await pilot.pause()

    assert snap_compare(app, run_before=type_bad_rate, terminal_size=SIZE)


def test_help_modal(app, snap_compare):
    assert snap_compare(app, press=["question_mark"], terminal_size=SIZE)


def _data_app(tmp_path, model_dir) -> FtTuiApp:
    rows = [{"messages": [{"role": "user", "content": f"Ticket {i}: printer jammed on floor {i}"},
                          {"role": "assistant", "content": ["HW-01", "BILL-02"][i % 2]}]}
            for i in range(12)]
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, '{"messages": [')          # an invalid line 4
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    app = FtTuiApp(config_path=str(tmp_path / "ft-tui.yaml"))
    app.state.cfg = app.state.cfg.with_overrides(
        {"data.train_path": "train.jsonl", "model.name": str(model_dir)})
    return app


async def _inspected(pilot):
    await pilot.press("2")
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def test_data_summary(tmp_path, monkeypatch, tiny_model_dir, snap_compare):
    monkeypatch.chdir(tmp_path)
    assert snap_compare(_data_app(tmp_path, tiny_model_dir), run_before=_inspected,
                        terminal_size=SIZE)


def test_data_error_with_its_raw_line(tmp_path, monkeypatch, tiny_model_dir, snap_compare):
    monkeypatch.chdir(tmp_path)

    async def show_error(pilot):
        await _inspected(pilot)
        step = pilot.app.query_one("#data")
        step.query_one("#data-tabs").active = "tab-errors"
        await pilot.pause()
        step.query_one("#errors-table").focus()
        await pilot.pause()

    assert snap_compare(_data_app(tmp_path, tiny_model_dir), run_before=show_error,
                        terminal_size=SIZE)


def test_data_lengths_and_labels(tmp_path, monkeypatch, tiny_model_dir, snap_compare):
    monkeypatch.chdir(tmp_path)

    async def show_lengths(pilot):
        await _inspected(pilot)
        pilot.app.query_one("#data").query_one("#data-tabs").active = "tab-lengths"
        await pilot.pause()

    assert snap_compare(_data_app(tmp_path, tiny_model_dir), run_before=show_lengths,
                        terminal_size=SIZE)


def test_data_sample_as_chat(tmp_path, monkeypatch, tiny_model_dir, snap_compare):
    monkeypatch.chdir(tmp_path)

    async def show_sample(pilot):
        await _inspected(pilot)
        pilot.app.query_one("#data").query_one("#data-tabs").active = "tab-samples"
        await pilot.pause()

    assert snap_compare(_data_app(tmp_path, tiny_model_dir), run_before=show_sample,
                        terminal_size=SIZE)


def _fixed_machine(output_dir="."):
    from ft_tui.core.plan.hardware import GpuInfo, HardwareInfo

    return HardwareInfo(
        gpus=[GpuInfo(index=0, name="NVIDIA L4", total_gb=22.5, free_gb=21.9, used_gb=0.6,
                      utilization_pct=3.0)],
        cpu_cores=8, ram_total_gb=32.0, ram_available_gb=28.0, disk_free_gb=200.0,
        disk_path="/data", system="Linux x86_64")


def _fixed_plan(name, cfg, gpu_gb, token_stats):
    """A plan with fixed numbers: the snapshot checks the screen, not the estimator (which
    has its own tests and may be recalibrated)."""
    from types import SimpleNamespace as NS

    from ft_tui.core.plan.methods import MethodCheck
    from ft_tui.core.plan.recommend import Recommendation

    def est(total, **parts):
        return NS(total_gb=total, components={k.replace("_", " "): v for k, v in parts.items()},
                  fits=lambda capacity: total <= capacity)

    def check(method, asked):
        return MethodCheck(method, asked, 21.9)

    estimates = {
        "full": check("full", est(26.0, trainable_weights=6.0, gradients=6.0, optimizer_states=12.0,
                                  activations=1.2, CUDA_context=0.8)),
        "lora": check("lora", est(9.5, frozen_weights=6.0, optimizer_states=0.1, activations=2.6,
                                  CUDA_context=0.8)),
        "qlora": check("qlora", est(5.2, frozen_weights=1.9, optimizer_states=0.1, activations=2.4,
                                    CUDA_context=0.8)),
    }
    rec = Recommendation(
        method="lora",
        settings={"method": "lora", "training.batch_size": 8,
                  "training.gradient_accumulation": 2, "training.precision": "bf16"},
        reasons=["This machine: NVIDIA L4 with 21.9 GB free.",
                 "LoRA on a bf16 base: needs 9.5 GB of 21.9 GB."],
        alternatives=[], capacity_gb=21.9)
    profile = NS(name="Example-3B", size_label="3.00B", layers=28, hidden=3072, vocab=128256,
                 dtype="bfloat16")
    return {"profile": profile, "estimates": estimates, "recommendation": rec,
            "capacity_gb": 21.9, "capacity_label": "free on GPU 0, NVIDIA L4", "local": True,
            "where": "at /models/example-3b"}


@pytest.mark.parametrize("scroll", [0, 14], ids=["machine", "plan"])
def test_hardware(app, monkeypatch, snap_compare, scroll):
    from ft_tui.tui.steps import hardware_work
    monkeypatch.setattr(hardware_work, "probe_machine", _fixed_machine)
    monkeypatch.setattr(hardware_work, "plan", _fixed_plan)

    async def planned(pilot):
        await pilot.press("3")
        for _ in range(3):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        pilot.app.query_one("#hw-scroll").scroll_to(y=scroll, animate=False)
        await pilot.pause()

    assert snap_compare(app, run_before=planned, terminal_size=SIZE)

"""The CPU plan's step time comes from a measured run (the newest run of the same model,
method and device under the runs folder), or says it is an estimate and how it was made;
never "a few seconds"."""

import json

import pytest

from ft_tui.cli import main
from ft_tui.core.config.settings import RunConfig
from ft_tui.core.plan.hardware import HardwareInfo
from ft_tui.core.plan.model_profile import known_model
from ft_tui.core.plan.recommend import recommend
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.run.speed import measured_speed

NO_GPU = HardwareInfo(gpus=[], no_gpu_reason="NVML: NVML Shared Library Not Found", cpu_cores=2,
                      ram_total_gb=24.0, ram_available_gb=20.0, disk_free_gb=50.0, disk_path="/tmp")


def fake_run(runs, name, *, updated, speeds, model="default", method="lora", device="cpu, fp32"):
    """A run directory as a training run leaves it: config, status, a start record and step
    logs with the tokens/s measured between them."""
    run = RunDir(runs / name)
    run.path.mkdir(parents=True)
    run.save_config(RunConfig().with_overrides({"model.name": model, "method": method}))
    run.append_event({"type": "start", "run_dir": str(run.path), "total_steps": 30,
                      "method": method, "model": model, "device": device})
    for step, speed in enumerate(speeds, 1):
        run.append_event({"type": "log", "step": step, "loss": 1.0, "tokens_per_s": speed})
    run.write_status("done", step=len(speeds))
    status = json.loads(run.status_path.read_text())
    run.status_path.write_text(json.dumps({**status, "updated": updated}))
    return run.path


def step_time(rec) -> str:
    return next(r for r in rec.reasons if r.startswith("Step time"))


def test_the_newest_matching_run_gives_the_measured_step_time(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "older", updated=100.0, speeds=[50.0, 50.0])
    fake_run(runs, "matching", updated=200.0, speeds=[None, 100.0, 128.0, 110.0])
    fake_run(runs, "on-a-gpu", updated=300.0, speeds=[5000.0], device="cuda, bf16")
    fake_run(runs, "other-model", updated=400.0, speeds=[900.0], model="qwen2.5-0.5b")
    fake_run(runs, "full", updated=500.0, speeds=[70.0], method="full")
    speed = measured_speed(runs, model="default", method="lora", device="cpu")
    assert speed.run_dir == str(runs / "matching") and speed.tokens_per_s == 110.0   # the median

    rec = recommend(NO_GPU, known_model("smollm2-135m"), max_length=512, measured=speed)
    line = step_time(rec)
    # 4 x 4 examples of up to 512 tokens at 110 tokens/s: 8192 / 110 = 74 s
    assert line.startswith("Step time measured on this machine: up to 74 s per step")
    assert "batch 4 x accumulation 4 x 512 tokens" in line and str(runs / "matching") in line
    assert not any("few seconds" in r for r in rec.reasons)


def test_without_a_measured_run_the_step_time_says_it_is_an_estimate(tmp_path):
    assert measured_speed(tmp_path / "none", model="default", method="lora", device="cpu") is None
    rec = recommend(NO_GPU, known_model("smollm2-135m"), max_length=256)
    line = step_time(rec)
    # 4 x 4 x 256 tokens at the 148.9 tokens/s measured for this very model: 28 s
    assert line.startswith("Step time estimated, not measured: up to 28 s per step")
    assert "149 tokens/s" in line and "parameter count" in line
    # a model 11x the size is estimated 11x slower per token
    big = step_time(recommend(NO_GPU, known_model("qwen2.5-1.5b"), max_length=256))
    assert "up to 5 min per step" in big
    assert not any("few seconds" in r for r in rec.reasons)
    # with the data's token lengths, the tokens an example really has: 4 x 4 x 167 / 148.9
    # (the ticket-triage data; the bound above assumed every example 256 tokens long)
    with_data = step_time(recommend(NO_GPU, known_model("smollm2-135m"),
                                    token_stats={"median": 167, "p95": 186, "max": 195}))
    assert with_data.startswith("Step time estimated, not measured: about 18 s per step at "
                                "batch 4 x accumulation 4 of your data's median 167 tokens")


def test_hw_quotes_a_run_in_its_runs_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("ft_tui.core.plan.hardware.probe", lambda output_dir=".": NO_GPU)
    runs = tmp_path / "runs"
    fake_run(runs, "r1", updated=100.0, speeds=[200.0], model="smollm2-135m")
    assert main(["hw", "--model", "smollm2-135m", "--seq", "512", "--output-dir", str(runs),
                 "--json"]) == 0
    reasons = json.loads(capsys.readouterr().out)["recommendation"]["reasons"]
    assert f"up to 41 s per step at batch 4 x accumulation 4 x 512 tokens (200 tokens/s in {runs / 'r1'})" \
        in " ".join(reasons)


@pytest.mark.parametrize("measured_here", [True, False])
def test_the_dry_run_says_the_step_time_on_the_cpu(tmp_path, monkeypatch, measured_here):
    from ft_tui.core.plan.preflight import preflight

    runs = tmp_path / "runs"
    if measured_here:
        fake_run(runs, "r1", updated=100.0, speeds=[64.0])
    cfg = RunConfig().with_overrides({"output_dir": str(runs), "data.max_length": 256,
                                      "training.batch_size": 2, "training.gradient_accumulation": 1})
    pf = preflight(cfg, force_cpu=True, hw=NO_GPU)
    expected = ("Step time measured on this machine: up to 8.0 s per step at batch 2 x 256 tokens"
                if measured_here else "Step time estimated, not measured: up to 3.4 s per step")
    assert pf.step_time.startswith(expected) and pf.step_time in pf.lines()


def test_the_wizards_hardware_plan_reads_the_configs_runs_folder(tmp_path, monkeypatch):
    from ft_tui.tui.steps import hardware_work

    monkeypatch.setattr(hardware_work, "probe_machine", lambda output_dir=".": NO_GPU)
    runs = tmp_path / "runs"
    fake_run(runs, "r1", updated=100.0, speeds=[128.0], model="smollm2-135m")
    cfg = RunConfig().with_overrides({"output_dir": str(runs), "model.name": "smollm2-135m"})
    rec = hardware_work.plan("smollm2-135m", cfg, None, None)["recommendation"]
    assert f"(128 tokens/s in {runs / 'r1'})" in step_time(rec)

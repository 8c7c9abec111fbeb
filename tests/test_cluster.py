"""Several machines from the plan: `ft-tui train CONFIG --cluster N` and `ft-tui export
RUN_DIR --cluster N` write RUN_DIR/export/cluster/ (accelerate config, per-node launch
script, Slurm job, preflight, README), and two nodes on one machine train a run together."""

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from ft_tui.cli import main
from ft_tui.core.config.settings import RunConfig
from ft_tui.core.plan.hardware import GpuInfo, HardwareInfo
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training.cluster import FILES, plan_cluster
from ft_tui.core.training.launch import free_port
from tests.test_launch import _config


def _prepare(tmp_path, tiny_model_dir, capsys, machines=2, max_steps=4):
    config = _config(tmp_path, tiny_model_dir, max_steps=max_steps)
    code = main(["train", str(config), "--cluster", str(machines)])
    out, err = capsys.readouterr()
    assert code == 0, err
    run = RunDir(tmp_path / "runs" / "ddp")
    cluster = run.path / "export" / "cluster"
    assert f"Cluster files: {cluster}" in out
    return run, cluster


def test_train_cluster_prepares_the_run_and_writes_scripts_that_parse(tiny_model_dir, tmp_path, capsys):
    run, cluster = _prepare(tmp_path, tiny_model_dir, capsys)
    assert sorted(p.name for p in cluster.iterdir()) == sorted(FILES)
    assert run.read_status()["state"] == "created"           # prepared, not trained
    assert not run.metrics_path.exists() and not run.adapter_dir.exists()
    for script in ("launch_node.sh", "slurm.sbatch", "preflight.sh"):
        check = subprocess.run(["bash", "-n", str(cluster / script)], capture_output=True, text=True)
        assert check.returncode == 0, (script, check.stderr)
        assert os.access(cluster / script, os.X_OK)

    config = yaml.safe_load((cluster / "accelerate.yaml").read_text())
    assert (config["distributed_type"], config["num_machines"], config["num_processes"]) == ("MULTI_GPU", 2, 2)
    slurm = (cluster / "slurm.sbatch").read_text()
    assert "#SBATCH --nodes=2" in slurm and "#SBATCH --ntasks-per-node=1" in slurm
    assert 'scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1' in slurm
    assert f"{cluster}/launch_node.sh" in slurm and 'MACHINE_RANK="$SLURM_NODEID"' in slurm
    node = (cluster / "launch_node.sh").read_text()
    assert f"--config_file \"$HERE/accelerate.yaml\"" in node and "-m ft_tui.core.training.worker" in node
    assert str(run.path) in node and 'MAIN_PORT="${MAIN_PORT:-29500}"' in node
    assert "GLOO_SOCKET_IFNAME" in node and "NCCL_SOCKET_IFNAME" in node
    preflight = (cluster / "preflight.sh").read_text()
    data = run.data_hashes()["data.train_path"]
    assert f"{data['sha256']}  {data['path']}" in preflight and "all_reduce" in preflight
    readme = (cluster / "README.md").read_text()
    assert "## 1. By hand" in readme and "## 2. Slurm" in readme and "## 3. accelerate directly" in readme

    # A node missing MACHINE_RANK is told what to set, before anything starts.
    bare = subprocess.run(["bash", str(cluster / "launch_node.sh")], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k not in ("MACHINE_RANK", "MAIN_ADDR")})
    assert bare.returncode != 0 and "set MACHINE_RANK" in bare.stderr

    # `ft-tui export RUN_DIR --cluster 3` rewrites the folder for three machines.
    assert main(["export", str(run.path), "--cluster", "3"]) == 0
    again = yaml.safe_load((cluster / "accelerate.yaml").read_text())
    assert (again["num_machines"], again["num_processes"]) == (3, 3)
    assert "#SBATCH --nodes=3" in (cluster / "slurm.sbatch").read_text()
    assert main(["export", str(run.path), "--cluster", "0"]) != 0


def test_cluster_plan_shards_with_fsdp2_when_the_weights_need_it(tmp_path):
    gpus = [GpuInfo(i, "NVIDIA L4", 22.0, 21.5, 0.5, compute_capability="8.9", bf16_supported=True)
            for i in range(4)]
    hw = HardwareInfo(gpus=gpus, ram_total_gb=128.0, ram_available_gb=120.0)
    big = RunConfig.from_dict({"model": {"name": "llama-3.1-8b"}, "method": "full",
                               "training": {"batch_size": 1, "gradient_checkpointing": True}})
    plan = plan_cluster(big, 2, hw=hw)
    assert (plan.strategy, plan.per_node, plan.world_size, plan.cpu) == ("fsdp", 4, 8, False)
    small = RunConfig.from_dict({"model": {"name": "SmolLM2-135M-Instruct"}, "method": "lora"})
    assert plan_cluster(small, 2, hw=hw).strategy == "ddp"

    from ft_tui.core.training.cluster import write_cluster

    run = RunDir.create(tmp_path, "big")
    run.save_config(big)
    out = write_cluster(run, 2, hw=hw)
    config = yaml.safe_load((out / "accelerate.yaml").read_text())
    assert config["distributed_type"] == "FSDP" and config["fsdp_config"]["fsdp_version"] == 2
    assert (config["num_machines"], config["num_processes"], config["mixed_precision"]) == (2, 8, "bf16")
    assert "#SBATCH --gpus-per-node=4" in (out / "slurm.sbatch").read_text()


def _nodes(cluster, script, port, tmp_path, tag, **env):
    """Start ``script`` as two nodes (MACHINE_RANK 0 and 1) on this machine; wait for both."""
    procs = []
    for rank in (0, 1):
        log = open(tmp_path / f"{tag}-node{rank}.log", "w")
        procs.append((subprocess.Popen(
            ["bash", str(cluster / script)], stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "MACHINE_RANK": str(rank), "MAIN_ADDR": "127.0.0.1",
                 "MAIN_PORT": str(port), "FT_TUI_PYTHON": sys.executable, **env}), log))
    codes = []
    for proc, log in procs:
        try:
            codes.append(proc.wait(timeout=300))
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    logs = "\n".join((tmp_path / f"{tag}-node{r}.log").read_text() for r in (0, 1))
    return codes, logs


@pytest.mark.slow   # three two-node launches on 2 cores: about a minute
def test_two_nodes_on_one_machine_train_fail_on_rank_1_and_resume_into_one_adapter(
        tiny_model_dir, tmp_path, capsys):
    run, cluster = _prepare(tmp_path, tiny_model_dir, capsys, max_steps=6)   # checkpoints at 3, 6
    assert shutil.which("sha256sum")

    codes, logs = _nodes(cluster, "preflight.sh", free_port(), tmp_path, "preflight")
    assert codes == [0, 0], logs
    assert "gloo all-reduce over 2 nodes works" in logs

    # Node 1's process fails at step 5: both nodes end, rank 1 is named, checkpoint-3 is kept.
    codes, logs = _nodes(cluster, "launch_node.sh", free_port(), tmp_path, "fail",
                         FT_TUI_FAULT="1:5:error")
    assert codes[0] != 0 and codes[1] != 0, logs
    status = run.read_status()
    assert status["state"] == "failed" and status["failed_rank"] == 1, (status, logs)
    assert "rank 1 of 2 failed: RuntimeError: injected failure" in status["message"]
    assert "rank 1 of 2 failed" in (run.path / "error.log").read_text()
    assert run.latest_checkpoint().name == "checkpoint-3"

    # Launched again (RESUME=auto): it continues from checkpoint-3 and saves one adapter.
    codes, logs = _nodes(cluster, "launch_node.sh", free_port(), tmp_path, "resume")
    assert codes == [0, 0], logs
    status = run.read_status()
    assert (status["state"], status["step"]) == ("done", 6), status
    assert "failed_rank" not in status
    steps = [e.step for e in run.read_events() if type(e).__name__ == "StepLog"]
    assert steps[-3:] == [4, 5, 6]

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), run.adapter_dir)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(torch.count_nonzero(p) > 0 for p in lora_b)   # trained (LoRA B starts at 0)

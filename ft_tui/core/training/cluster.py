"""Several machines, from the plan: ``RUN_DIR/export/cluster/`` for N nodes.

    ft-tui train CONFIG --cluster N      prepares a run directory (no training) and this folder
    ft-tui export RUN_DIR --cluster N    the same folder for an existing run

One engine, accelerate, as on one machine (``launch.py``): the folder holds

- ``accelerate.yaml``: the run's accelerate config (``launch.accelerate_config``), FSDP2 where
  the planner says sharding is needed (``core/plan/sharding.py``), DDP otherwise, with
  ``num_machines: N``;
- ``launch_node.sh``: one node; MACHINE_RANK, MAIN_ADDR, MAIN_PORT (29500) from the
  environment, the NCCL/Gloo network variables, then ``accelerate launch --config_file`` on
  ft-tui's worker with the run directory;
- ``slurm.sbatch``: one task per node, ``srun`` over launch_node.sh, MAIN_ADDR from the job's
  first host;
- ``preflight.sh``: the same ft-tui and torch everywhere, the main port reachable, a short
  all-reduce over every node, the data files' sha256 as recorded at the start of the run;
- ``README.md``: the three ways to run it.

The run directory must be at the same path on every node (a shared filesystem): every rank
reads its config and data there, and rank 0 writes the events, checkpoints and adapter.
"""

from __future__ import annotations

import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from ft_tui.core.errors import SetupError
from ft_tui.core.run.data_hashes import checksum_lines
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training.launch import (ACCELERATE_CONFIG, LaunchPlan, accelerate_config,
                                         write_accelerate_config)

DEFAULT_PORT = 29500
FILES = ("accelerate.yaml", "launch_node.sh", "slurm.sbatch", "preflight.sh", "README.md")


@dataclass(frozen=True)
class ClusterPlan:
    machines: int
    per_node: int          # processes (GPUs) per machine
    strategy: str          # ddp | fsdp
    cpu: bool
    reason: str

    @property
    def world_size(self) -> int:
        return self.machines * self.per_node


def plan_cluster(cfg, machines: int, *, per_node: int | None = None, hw=None) -> ClusterPlan:
    """DDP or FSDP over ``machines`` x ``per_node`` processes, planned with this machine's GPUs
    as the model of every node's (the planner's estimate of one process against the smallest
    free GPU). Without a GPU here: one CPU process per node, DDP."""
    if machines < 1:
        raise SetupError(f"--cluster {machines}: the number of machines must be 1 or more")
    if hw is None:
        from ft_tui.core.plan.hardware import probe

        hw = probe(cfg.output_dir)
    if not hw.gpus:
        n = per_node or 1
        return ClusterPlan(machines, n, "ddp", True, "no GPU on this machine to plan with: "
                           f"{n} CPU process(es) per node, each holding a full copy (DDP); on GPU "
                           "nodes set PROCS_PER_NODE and FT_TUI_CPU=0 (see README.md)")
    n = per_node or len(hw.gpus)
    from ft_tui.core.plan.memory import estimate_for
    from ft_tui.core.plan.model_profile import model_profile
    from ft_tui.core.plan.sharding import decide

    est = estimate_for(cfg, model_profile(cfg.model.name), "cuda")
    verdict = decide(est, min(g.free_gb for g in hw.gpus), machines * n)
    if verdict.strategy == "refuse":
        raise SetupError(f"{machines} machines x {n} GPUs: {verdict.reason}")
    return ClusterPlan(machines, n, verdict.strategy, False, verdict.reason)


def write_cluster(run_dir: RunDir, machines: int, *, per_node: int | None = None, hw=None,
                  python: str | None = None) -> Path:
    """Write ``RUN_DIR/export/cluster/`` and return it. Raises SetupError (bad count, QLoRA
    that only sharding would fit) or OSError."""
    cfg = run_dir.load_config()
    plan = plan_cluster(cfg, machines, per_node=per_node, hw=hw)
    out = run_dir.export_dir / "cluster"
    out.mkdir(parents=True, exist_ok=True)
    launch = LaunchPlan(plan.per_node, plan.strategy if plan.world_size > 1 else "single",
                        plan.cpu, plan.reason)
    mixed = "no" if plan.cpu else _mixed_precision(cfg)
    config = accelerate_config(launch, mixed_precision=mixed, num_machines=machines, port=DEFAULT_PORT)
    write_accelerate_config(out / ACCELERATE_CONFIG, config)
    values = _values(run_dir, plan, out, python or sys.executable)
    from ft_tui.core.atomic import atomic_write_text

    for name, text in (("launch_node.sh", LAUNCH_NODE), ("slurm.sbatch", SLURM),
                       ("preflight.sh", PREFLIGHT), ("README.md", README)):
        path = atomic_write_text(out / name, _fill(text, values))
        if name.endswith((".sh", ".sbatch")):
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return out


def _mixed_precision(cfg) -> str:
    precision = cfg.training.precision
    return precision if precision in ("bf16", "fp16") else "bf16" if precision == "auto" else "no"


def _versions() -> tuple[str, str]:
    import importlib.metadata as md

    from ft_tui import __version__

    try:
        torch_version = md.version("torch")
    except md.PackageNotFoundError:
        torch_version = "unknown"
    return __version__, torch_version


def _values(run_dir: RunDir, plan: ClusterPlan, out: Path, python: str) -> dict[str, str]:
    ft_version, torch_version = _versions()
    data = checksum_lines(run_dir.data_hashes())
    return {
        "RUN_DIR": _dq(str(run_dir.path.resolve())),
        "RUN_NAME": run_dir.path.name,
        "HERE": _dq(str(out.resolve())),
        "PYTHON": _dq(python),
        "MACHINES": str(plan.machines),
        "LAST_RANK": str(plan.machines - 1),
        "PER_NODE": str(plan.per_node),
        "CPU": "1" if plan.cpu else "0",
        "STRATEGY": plan.strategy.upper(),
        "REASON": plan.reason,
        "FT_VERSION": ft_version,
        "TORCH_VERSION": torch_version,
        "DATA_SUMS": "\n".join(data),
        "GPUS_LINE": "" if plan.cpu else f"#SBATCH --gpus-per-node={plan.per_node}\n",
        "PORT": str(DEFAULT_PORT),
    }


def _dq(text: str) -> str:
    """``text`` safe inside double quotes in bash (the scripts quote every path)."""
    for char in ("\\", '"', "$", "`"):
        text = text.replace(char, "\\" + char)
    return text


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("@" + key + "@", value)
    return template


LAUNCH_NODE = r"""#!/usr/bin/env bash
# One node of ft-tui run @RUN_NAME@ on @MACHINES@ machines (@STRATEGY@), written by ft-tui.
# Run it on every machine, the main one (MACHINE_RANK=0) first:
#   MACHINE_RANK=0 MAIN_ADDR=<main machine's address> bash launch_node.sh
#   MACHINE_RANK=1 MAIN_ADDR=<main machine's address> bash launch_node.sh   # ... up to @LAST_RANK@
# Why @STRATEGY@: @REASON@
set -euo pipefail
: "${MACHINE_RANK:?set MACHINE_RANK: 0 on the main machine, 1..@LAST_RANK@ on the others}"
: "${MAIN_ADDR:?set MAIN_ADDR: the address of the main machine, reachable from every node}"
MAIN_PORT="${MAIN_PORT:-@PORT@}"
HERE="${FT_TUI_CLUSTER_DIR:-@HERE@}"
RUN_DIR="${FT_TUI_RUN_DIR:-@RUN_DIR@}"          # the same path on every node (shared filesystem)
PYTHON="${FT_TUI_PYTHON:-@PYTHON@}"
PROCS_PER_NODE="${PROCS_PER_NODE:-@PER_NODE@}"
NUM_MACHINES=@MACHINES@

# Network: the interface NCCL and Gloo use between nodes (e.g. NET_IF=eth0 or ib0); without
# it they guess, and a guess of docker0 or lo hangs the first collective.
if [ -n "${NET_IF:-}" ]; then
  export NCCL_SOCKET_IFNAME="$NET_IF" GLOO_SOCKET_IFNAME="$NET_IF"
fi
export NCCL_DEBUG="${NCCL_DEBUG:-WARN}"
# A failed NCCL collective ends its process instead of leaving it waiting (torchrun's own
# default, said here so that an environment that turns it off is overruled only by choice).
export TORCH_NCCL_ASYNC_ERROR_HANDLING="${TORCH_NCCL_ASYNC_ERROR_HANDLING:-1}"
# The model is the commit the run recorded (model.revision): a node without it in its Hugging
# Face cache downloads that commit; set HF_HUB_OFFLINE=1 yourself on nodes with no internet.

EXTRA=()
if [ "${FT_TUI_CPU:-@CPU@}" = 1 ]; then EXTRA+=(--cpu); fi
# RESUME=auto (default): continue from the run's latest checkpoint when it has one.
case "${RESUME:-auto}" in
  1|yes) EXTRA+=(--resume) ;;
  auto) if compgen -G "$RUN_DIR/checkpoints/checkpoint-*" > /dev/null; then EXTRA+=(--resume); fi ;;
esac

exec "$PYTHON" -m accelerate.commands.launch --config_file "$HERE/accelerate.yaml" \
  --num_machines "$NUM_MACHINES" --num_processes "$((NUM_MACHINES * PROCS_PER_NODE))" \
  --machine_rank "$MACHINE_RANK" --main_process_ip "$MAIN_ADDR" --main_process_port "$MAIN_PORT" \
  -m ft_tui.core.training.worker --run-dir "$RUN_DIR" "${EXTRA[@]}"
"""

SLURM = r"""#!/usr/bin/env bash
# ft-tui run @RUN_NAME@ on @MACHINES@ nodes with Slurm: sbatch slurm.sbatch
#SBATCH --job-name=ft-tui-@RUN_NAME@
#SBATCH --nodes=@MACHINES@
#SBATCH --ntasks-per-node=1
@GPUS_LINE@#SBATCH --output=@HERE@/slurm-%j.out
set -euo pipefail
# The first host of the job is the main machine (MACHINE_RANK 0).
MAIN_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
export MAIN_ADDR
export MAIN_PORT="${MAIN_PORT:-@PORT@}"
LAUNCH_NODE="@HERE@/launch_node.sh"
PREFLIGHT="@HERE@/preflight.sh"
# Every node: the same versions, the port, an all-reduce, the data; then one task per node.
srun --nodes=@MACHINES@ --ntasks-per-node=1 bash -c 'MACHINE_RANK="$SLURM_NODEID" exec bash "$0"' "$PREFLIGHT"
srun --nodes=@MACHINES@ --ntasks-per-node=1 bash -c 'MACHINE_RANK="$SLURM_NODEID" exec bash "$0"' "$LAUNCH_NODE"
"""

PREFLIGHT = r"""#!/usr/bin/env bash
# Checks one node of ft-tui run @RUN_NAME@ before training; run it on every node at once,
# with the same MACHINE_RANK / MAIN_ADDR / MAIN_PORT as launch_node.sh.
set -euo pipefail
: "${MACHINE_RANK:?set MACHINE_RANK: 0 on the main machine, 1..@LAST_RANK@ on the others}"
: "${MAIN_ADDR:?set MAIN_ADDR: the address of the main machine}"
export MAIN_PORT="${MAIN_PORT:-@PORT@}" MACHINE_RANK MAIN_ADDR
export NUM_MACHINES=@MACHINES@ FT_TUI_CPU="${FT_TUI_CPU:-@CPU@}"
if [ -n "${NET_IF:-}" ]; then export NCCL_SOCKET_IFNAME="$NET_IF" GLOO_SOCKET_IFNAME="$NET_IF"; fi
PYTHON="${FT_TUI_PYTHON:-@PYTHON@}"
RUN_DIR="${FT_TUI_RUN_DIR:-@RUN_DIR@}"
fail() { echo "preflight (node $MACHINE_RANK): $*" >&2; exit 1; }

[ -f "$RUN_DIR/config.yaml" ] || fail "$RUN_DIR/config.yaml is missing: the run directory must be at the same path on every node (a shared filesystem)"

# 1. The same ft-tui and torch as the machine that planned the run.
versions="$("$PYTHON" -c 'import ft_tui, importlib.metadata as m; print(ft_tui.__version__, m.version("torch"))')" \
  || fail "$PYTHON cannot import ft_tui and torch"
[ "$versions" = "@FT_VERSION@ @TORCH_VERSION@" ] \
  || fail "ft-tui/torch versions are '$versions', the run was planned with '@FT_VERSION@ @TORCH_VERSION@'"

# 2. The data, byte for byte (sha256 recorded when the run was prepared).
while read -r sum path; do
  [ -n "$sum" ] || continue
  [ -f "$path" ] || fail "data file $path is missing on this node"
  [ "$(sha256sum "$path" | cut -d' ' -f1)" = "$sum" ] || fail "data file $path differs from the one the run was prepared with (sha256)"
done <<'SUMS'
@DATA_SUMS@
SUMS

# 3. The main port, then a short all-reduce over every node (NCCL on GPUs, else Gloo).
"$PYTHON" - <<'PY' || fail "the all-reduce over $NUM_MACHINES nodes at $MAIN_ADDR:$MAIN_PORT did not work (see above)"
import datetime, os, socket, sys, time
rank, world = int(os.environ["MACHINE_RANK"]), int(os.environ["NUM_MACHINES"])
addr, port = os.environ["MAIN_ADDR"], int(os.environ["MAIN_PORT"])
import torch, torch.distributed as dist
if rank != 0:
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection((addr, port), timeout=5).close()
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                sys.exit(f"cannot reach {addr}:{port} ({exc}): is node 0 running preflight.sh, "
                         "and is the port open between the nodes?")
            time.sleep(1)
cuda = torch.cuda.is_available() and os.environ.get("FT_TUI_CPU") != "1"
backend = "nccl" if cuda else "gloo"
if cuda:
    torch.cuda.set_device(0)
dist.init_process_group(backend, init_method=f"tcp://{addr}:{port}", rank=rank, world_size=world,
                        timeout=datetime.timedelta(seconds=120))
x = torch.ones(1024, device="cuda" if cuda else "cpu")
dist.all_reduce(x)
ok = bool((x == world).all())
dist.destroy_process_group()
if not ok:
    sys.exit(f"all-reduce gave {x[0].item()}, expected {world}")
print(f"preflight (node {rank}): {backend} all-reduce over {world} nodes works")
PY
echo "preflight (node $MACHINE_RANK): versions, data and network are ready"
"""

README = """# ft-tui run @RUN_NAME@ on @MACHINES@ machines

Written by `ft-tui` for the run directory `@RUN_DIR@`. Plan: @STRATEGY@, @PER_NODE@ process(es)
per machine: @REASON@.

Before you start, on every machine:

- the run directory at the same path, `@RUN_DIR@` (a shared filesystem such as NFS), with the
  data files it names; rank 0 writes the events, checkpoints and the adapter there;
- the same ft-tui and torch (@FT_VERSION@, torch @TORCH_VERSION@): `preflight.sh` checks it;
- the main machine's port `MAIN_PORT` (default @PORT@) open to the others.

`NET_IF=<interface>` (e.g. `eth0`, `ib0`) tells NCCL and Gloo which network to use.
`RESUME=auto` (the default) continues from the latest checkpoint when there is one.

## 1. By hand, one shell per machine

    # every machine, at about the same time
    MACHINE_RANK=0 MAIN_ADDR=<main address> bash @HERE@/preflight.sh    # on the main machine
    MACHINE_RANK=1 MAIN_ADDR=<main address> bash @HERE@/preflight.sh    # on the next, ...
    # then
    MACHINE_RANK=0 MAIN_ADDR=<main address> bash @HERE@/launch_node.sh
    MACHINE_RANK=1 MAIN_ADDR=<main address> bash @HERE@/launch_node.sh

## 2. Slurm

    sbatch @HERE@/slurm.sbatch

One task per node; the job's first host is the main machine; preflight runs first.

## 3. accelerate directly

`launch_node.sh` only sets the environment and runs this, which you can run yourself:

    accelerate launch --config_file @HERE@/accelerate.yaml \\
      --machine_rank <0..@LAST_RANK@> --main_process_ip <main address> --main_process_port @PORT@ \\
      -m ft_tui.core.training.worker --run-dir @RUN_DIR@ [--resume]

Follow the run from any machine that sees the run directory: `ft-tui monitor @RUN_DIR@`.
A failing rank writes `error.rank<R>.log` there and ends the run.
"""


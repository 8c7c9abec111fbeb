"""`ft-tui export RUN_DIR`: the adapter, the config, a standalone script, and on request a
merged model and GGUF.

    ft-tui export runs/lora-SmolLM2-...               adapter/, config.yaml, train_standalone.py
    ft-tui export runs/lora-SmolLM2-... --merge       + merged/ (plain transformers folder)
    ft-tui export runs/lora-SmolLM2-... --gguf        + a .gguf, or the command that makes it
"""

from __future__ import annotations

import argparse
import os
import sys

from ft_tui.commands.common import ExitCode, fail
from ft_tui.commands.eval import run_error_code
from ft_tui.core.quiet import quiet_libraries

LABELS = {
    "adapter": "adapter (PEFT)",
    "config": "config (ft-tui train <it>)",
    "script": "standalone TRL script",
    "merged": "merged model",
    "gguf": "GGUF",
    "modelfile": "Ollama Modelfile",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory made by `ft-tui train`")
    parser.add_argument("--merge", action="store_true",
                        help="also merge the adapter into the base model (safetensors + tokenizer)")
    parser.add_argument("--gguf", action="store_true",
                        help="also write GGUF (implies --merge) with llama.cpp's converter, "
                             "or print the command to run")
    parser.add_argument("--merge-dtype", choices=("auto", "float32", "bfloat16", "float16"),
                        default="auto",
                        help="dtype of the merged weights (auto: the base model's own; float32: "
                             "exact, twice the size of bf16)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="where to write (default: RUN_DIR/export): a new or empty folder, "
                             "or an earlier export; a folder holding other files is refused")
    parser.add_argument("--force", action="store_true",
                        help="replace an export of another run in --out (never other files)")
    parser.add_argument("--cluster", type=int, metavar="N",
                        help="only write RUN_DIR/export/cluster/: this run on N machines (accelerate "
                             "config, per-node launch script, Slurm job, preflight)")


def run(args) -> int:
    if args.cluster is not None:
        return export_cluster(args.run_dir, args.cluster)
    quiet_libraries()
    from ft_tui.core.config.names import shell_quote
    from ft_tui.core.config.settings import ConfigError
    from ft_tui.core.export.run import export_run
    from ft_tui.core.run.artifacts import RunError

    def log(step: str) -> None:
        print(f"… {step}", file=sys.stderr, flush=True)

    try:
        written = export_run(args.run_dir, args.out, merge=args.merge, gguf=args.gguf,
                             merge_dtype=args.merge_dtype, force=args.force, log=log)
    except RunError as exc:
        return fail(str(exc), run_error_code(exc))
    except ConfigError as exc:
        return fail(f"the run's config is invalid: {exc}", ExitCode.ERROR)
    except OSError as exc:
        return fail(f"cannot write the export: {exc}", ExitCode.ERROR)

    for key, label in LABELS.items():
        if written.get(key):
            print(f"{label:<28} {written[key]}")
    if "gguf_message" in written:
        print(written["gguf_message"])
    if written.get("modelfile"):
        print(f"Ollama: cd {shell_quote(os.path.dirname(written['modelfile']))} && ollama create my-model -f Modelfile "
              "&& ollama run my-model")
    return int(ExitCode.OK)


def export_cluster(run_dir: str, machines: int) -> int:
    """`--cluster N`: the files that train this run on N machines (core/training/cluster.py)."""
    from ft_tui.core.config.settings import ConfigError
    from ft_tui.core.errors import SetupError
    from ft_tui.core.run.rundir import RunDir, RunDirError
    from ft_tui.core.training.cluster import write_cluster

    if machines < 1:
        return fail("--cluster: the number of machines must be 1 or more", ExitCode.USAGE)
    try:
        out = write_cluster(RunDir.open(run_dir), machines)
    except (RunDirError, SetupError) as exc:
        return fail(str(exc), ExitCode.USAGE)
    except ConfigError as exc:
        return fail(f"the run's config is invalid: {exc}", ExitCode.ERROR)
    except OSError as exc:
        return fail(f"cannot write the cluster files: {exc}", ExitCode.ERROR)
    print(f"Cluster files: {out}  (start with {out / 'README.md'})")
    return int(ExitCode.OK)

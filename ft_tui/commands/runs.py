"""`ft-tui runs`: the runs under the output folder, and which of them is still training.

    ft-tui runs                      the runs under ./runs (or ft-tui.yaml's output_dir)
    ft-tui runs --output-dir DIR     another folder
    ft-tui runs --json | jq '.[0]'   one JSON array on stdout, newest run first

Each run: its name, state (running with its process id, done, stopped, interrupted: its
process was killed, failed), step/total, the last training loss, the eval verdict and how
long ago its status changed. A running run is watched with `ft-tui monitor RUN_DIR` (or
`ft-tui` in the folder it was started from); an interrupted or stopped one continues with
`ft-tui train --resume RUN_DIR`.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from ft_tui.commands.common import ExitCode, fail


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("--output-dir", metavar="DIR",
                        help="the folder that holds the run directories (default: the output_dir "
                             "of ./ft-tui.yaml if present, else runs)")
    parser.add_argument("--json", action="store_true", help="one JSON array on stdout")


def run(args) -> int:
    from ft_tui.core.run.listing import list_runs

    output_dir = args.output_dir or default_output_dir()
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        return fail(f"--output-dir: {output_dir} is a file, not a folder", ExitCode.USAGE)
    runs = list_runs(output_dir)
    if args.json:
        now = time.time()
        print(json.dumps([{**r.to_dict(), "age_s": r.age_s(now)} for r in runs], indent=2))
        return int(ExitCode.OK)
    if not runs:
        print(f"No runs under {output_dir}/ yet: `ft-tui` (the wizard) or `ft-tui train` starts one.")
        return int(ExitCode.OK)
    print(_table(runs))
    running = [r for r in runs if r.state == "running"]
    if running:
        print(f"\nWatch a running one: ft-tui monitor {_quote(running[0].path)}")
    return int(ExitCode.OK)


def default_output_dir() -> str:
    """ft-tui.yaml's output_dir when the wizard's config is here, else the default."""
    from ft_tui.core.config.settings import RunConfig

    try:
        if os.path.isfile("ft-tui.yaml"):
            return RunConfig.load("ft-tui.yaml").output_dir
    except Exception:  # noqa: BLE001 - a broken config: the default folder still lists
        pass
    return RunConfig().output_dir


def _table(runs) -> str:
    now = time.time()
    rows = [("NAME", "STATE", "STEP", "LOSS", "EVAL", "AGE")]
    for r in runs:
        state = f"running ({r.pid})" if r.state == "running" and r.pid else r.state
        step = f"{r.step}/{r.total_steps}" if r.total_steps else str(r.step)
        loss = f"{r.last_loss:.4f}" if r.last_loss is not None else "-"
        rows.append((r.name, state, step, loss, r.verdict or "-", _age(r.age_s(now))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def _quote(path: str) -> str:
    import shlex

    return shlex.quote(path)

"""Bytes per second the wizard writes to the terminal while a run trains (a slow SSH link).

    python tests/bench/terminal_bytes.py [--seconds 60] [--sizes 80x24,200x50] [--steps 4000]

For each terminal size, the wizard (`python -m ft_tui`) opens in its own tmux server on
the Train step of a run of the tiny random model (fast steps: the worst case, as on a
GPU, since every step logs), `s` starts the run, and `tmux pipe-pane` copies everything
the app writes to the terminal into a file. Once the first step is logged, the bytes over
``--seconds`` are counted. Baseline, measured in the same run: the same wizard with the
dashboard's plots redrawn every 2 s (``PLOT_EVERY_S`` before this measurement; the
shipped value is 5 s). Goal: under 2 KB/s on average at 80x24. Needs tmux; not collected
by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def prepare(folder: Path, steps: int) -> None:
    from ft_tui.core.config.settings import RunConfig
    from ft_tui.tui.state import WizardState
    from tests.fixtures.eval_run import TICKETS, write_chat_jsonl
    from tests.fixtures.tiny import build_tiny_model

    model = build_tiny_model(folder / "model")
    data = write_chat_jsonl(folder / "tickets.jsonl", TICKETS)
    cfg = RunConfig().with_overrides({
        "model.name": str(model), "data.train_path": str(data), "data.eval_fraction": 0.25,
        "training.max_steps": steps, "training.eval_steps": 50, "training.save_steps": 500,
        "training.sample_every_steps": 100, "training.batch_size": 2,
        "training.gradient_accumulation": 1, "eval.max_new_tokens": 8,
        "output_dir": str(folder / "runs"), "run_name": "bench"})
    WizardState(cfg=cfg, config_path=folder / "ft-tui.yaml", current_step="train").save()


def measure(folder: Path, size: str, seconds: float, plot_every_s: float | None) -> tuple[float, int]:
    """(bytes per second, steps logged in the window); ``plot_every_s`` None: as shipped."""
    width, height = size.split("x")
    tmux = ["tmux", "-L", f"ft-bench-{uuid.uuid4().hex[:10]}", "-f", os.devnull]
    out = folder / f"pane-{size}-{plot_every_s or 'shipped'}.bytes"
    out.unlink(missing_ok=True)
    env = f"PYTHONPATH={ROOT}"
    program = "from ft_tui.cli import main; import sys; sys.exit(main([]))"
    if plot_every_s is not None:
        program = f"import ft_tui.tui.widgets.dashboard as d; d.PLOT_EVERY_S = {plot_every_s}; " + program
    command = f"cd {folder} && {env} {sys.executable} -c {shlex.quote(program)}; sleep 30"
    subprocess.run([*tmux, "new-session", "-d", "-s", "ft", "-x", width, "-y", height,
                    "-e", "TERM=xterm-256color", "-e", "HF_HUB_OFFLINE=1", command], check=True)
    metrics = folder / "runs" / "bench" / "metrics.jsonl"
    try:
        subprocess.run([*tmux, "pipe-pane", "-t", "ft", "-o", f"cat >> {out}"], check=True)
        _wait(lambda: "Start (s)" in _screen(tmux), 120)
        subprocess.run([*tmux, "send-keys", "-t", "ft", "s"], check=True)
        _wait(lambda: metrics.exists() and '"type": "log"' in metrics.read_text(), 300)
        time.sleep(2)                   # the first paint after the start is not the steady state
        start_bytes, start_steps = out.stat().st_size, _steps(metrics)
        time.sleep(seconds)
        end_bytes, end_steps = out.stat().st_size, _steps(metrics)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        _stop_trainer(folder / "runs" / "bench")
    return (end_bytes - start_bytes) / seconds, end_steps - start_steps


def _screen(tmux) -> str:
    return subprocess.run([*tmux, "capture-pane", "-p", "-t", "ft"], capture_output=True,
                          text=True).stdout


def _steps(metrics: Path) -> int:
    try:
        return metrics.read_text().count('"type": "log"')
    except FileNotFoundError:
        return 0


def _wait(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the wizard")
        time.sleep(0.2)


def _stop_trainer(run: Path) -> None:
    """The run outlives the wizard by design: end it, then clear the run for the next size."""
    try:
        pid = json.loads((run / "status.json").read_text()).get("pid")
        if pid:
            os.kill(int(pid), 15)
            time.sleep(3)
            os.kill(int(pid), 9)
    except (OSError, ValueError):
        pass
    shutil.rmtree(run, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sizes", default="80x24,200x50")
    parser.add_argument("--steps", type=int, default=4000)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("needs tmux")
    folder = Path(tempfile.mkdtemp(prefix="ft-bytes-"))
    prepare(folder, args.steps)
    print(f"load average {os.getloadavg()[0]:.1f}; window {args.seconds:g} s")
    for size in args.sizes.split(","):
        before, before_steps = measure(folder, size, args.seconds, plot_every_s=2.0)
        busy, steps = measure(folder, size, args.seconds, plot_every_s=None)
        print(f"{size}: shipped {busy / 1024:.2f} KB/s ({steps / args.seconds:.2f} steps/s), "
              f"plots every 2 s {before / 1024:.2f} KB/s ({before_steps / args.seconds:.2f} "
              f"steps/s), ratio {busy / max(before, 1):.2f}"
              + (f"; goal < 2 KB/s: {'met' if busy < 2048 else 'NOT met'}" if size == "80x24" else ""))
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

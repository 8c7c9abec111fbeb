"""How fast a training run of the default model stops: Stop -> "stopped", Quit -> exit.

    python tests/bench/stop_quit.py [--batch 2] [--max-length 128]

Three short CPU runs of the default model (SmolLM2-135M-Instruct through ft-tui's own
model resolution, LoRA, ticket-triage, a step log every step), each stopped 0.5 s after its
3rd step log, when the 4th step is under way, so the stop waits for (most of) a step:

1. "request_stop": the run in this process through core's ``start_run`` (what the wizard's
   Train step runs on its worker thread); the Train step's Stop calls ``request_stop()``.
   Measured: from the call to the RunFinished("stopped") event and to status.json "stopped".
2. "SIGINT": a headless ``ft-tui train run.yaml`` subprocess gets SIGINT (Ctrl+C).
   Measured: to status.json "stopped" and to the process's exit.
3. "wizard Quit": the real wizard in tmux at 80x24 (``tmux send-keys``): s (Start) on the
   Train step, then q and y (Quit, confirm) after the 3rd step. Measured: from y to the exit
   of the ft-tui process.

Each is printed next to that run's optimizer-step time (the median time between its step
logs). Target: within one step + 10 s. Not collected by pytest; a few minutes in all.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "sample_data" / "ticket_triage"
STOP_AFTER = 3          # step logs before the stop
STOP_DELAY_S = 0.5      # after that log: the next step has begun, so the stop waits for it
TIMEOUT_S = 900


def config(work: Path, name: str, args):
    from ft_tui.core.config.settings import RunConfig

    evals = (DATA / "eval.jsonl").read_text(encoding="utf-8").splitlines()[:8]
    (work / "eval.jsonl").write_text("\n".join(evals) + "\n", encoding="utf-8")
    return RunConfig().with_overrides({
        "data.train_path": str(DATA / "train.jsonl"), "data.eval_path": str(work / "eval.jsonl"),
        "data.max_length": args.max_length, "training.max_steps": 50,
        "training.batch_size": args.batch, "training.gradient_accumulation": 1,
        "training.eval_steps": 1000, "training.save_steps": 1000,
        "training.sample_every_steps": 0, "training.logging_steps": 1,
        "output_dir": str(work / "runs"), "run_name": name})


def step_time(times: list[float]) -> float:
    return statistics.median(b - a for a, b in zip(times, times[1:]))


def status(run: Path) -> str:
    try:
        return json.loads((run / "status.json").read_text()).get("state", "")
    except (OSError, ValueError):
        return ""


def step_log_times(run: Path, seen: dict) -> list[float]:
    """When this poller first saw each step log line of run/metrics.jsonl (wall clock)."""
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return sorted(seen.values())
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("type") == "log":
            seen.setdefault(record["step"], time.perf_counter())
    return [seen[k] for k in sorted(seen)]


def in_process(work: Path, args) -> dict:
    from ft_tui.core.run.events import RunFinished, StepLog
    from ft_tui.core.training.session import start_run

    logs: list[float] = []
    ended: dict = {}
    third = threading.Event()

    def on_event(event):
        if isinstance(event, StepLog):
            logs.append(time.perf_counter())
            if len(logs) == STOP_AFTER:
                third.set()
        elif isinstance(event, RunFinished):
            ended.update(at=time.perf_counter(), state=event.state, step=event.step)

    session = start_run(config(work, "stop", args), on_event=on_event)
    worker = threading.Thread(target=session.run, args=(on_event,), daemon=True)
    worker.start()
    assert third.wait(TIMEOUT_S), "no third step log"
    time.sleep(STOP_DELAY_S)
    asked = time.perf_counter()
    session.request_stop()
    worker.join(TIMEOUT_S)
    run = session.run_dir.path
    deadline = time.perf_counter() + 60
    while status(run) != "stopped" and time.perf_counter() < deadline:
        time.sleep(0.02)
    stopped = time.perf_counter()
    return {"arm": "request_stop", "step_s": step_time(logs), "state": ended.get("state"),
            "stopped_at_step": ended.get("step"),
            "to_event_s": ended["at"] - asked, "to_status_s": stopped - asked}


def headless_sigint(work: Path, args) -> dict:
    cfg = config(work, "sigint", args)
    cfg.save(work / "run.yaml")
    run = Path(cfg.output_dir) / "sigint"
    proc = subprocess.Popen([sys.executable, "-m", "ft_tui", "train", str(work / "run.yaml")],
                            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seen: dict = {}
    deadline = time.perf_counter() + TIMEOUT_S
    while len(times := step_log_times(run, seen)) < STOP_AFTER:
        assert proc.poll() is None and time.perf_counter() < deadline, "no third step log"
        time.sleep(0.02)
    time.sleep(STOP_DELAY_S)
    asked = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    to_status = None
    while proc.poll() is None or to_status is None:
        if to_status is None and status(run) == "stopped":
            to_status = time.perf_counter() - asked
        if proc.poll() is not None and to_status is None:
            to_status = float("nan") if status(run) != "stopped" else time.perf_counter() - asked
        time.sleep(0.02)
    exited = time.perf_counter() - asked
    return {"arm": "SIGINT", "step_s": step_time(times), "state": status(run),
            "to_status_s": to_status, "to_exit_s": exited, "exit_code": proc.returncode}


def wizard_quit(work: Path, args) -> dict:
    import psutil

    from ft_tui.tui.state import WizardState

    cfg = config(work, "quit", args)
    WizardState(cfg=cfg, config_path=work / "ft-tui.yaml", current_step="train").save()
    run = Path(cfg.output_dir) / "quit"
    tmux = ["tmux", "-L", f"ft-tui-bench-{uuid.uuid4().hex[:8]}", "-f", os.devnull]
    script = Path(sys.executable).with_name("ft-tui")
    program = str(script) if script.exists() else f"{sys.executable} -m ft_tui"
    command = f"cd {shlex.quote(str(work))} && {program}; sleep 30"
    flags = ["-e", "TERM=xterm-256color", "-e", "HF_HUB_OFFLINE=1"]
    keys = lambda *k: subprocess.run([*tmux, "send-keys", "-t", "ft", *k], check=True)  # noqa: E731
    screen = lambda: subprocess.run([*tmux, "capture-pane", "-p", "-t", "ft"],  # noqa: E731
                                    capture_output=True, text=True).stdout
    subprocess.run([*tmux, "new-session", "-d", "-s", "ft", "-x", "80", "-y", "24", *flags,
                    command], check=True)
    try:
        deadline = time.perf_counter() + 60
        while "Start (s)" not in screen():
            assert time.perf_counter() < deadline, screen()
            time.sleep(0.1)
        shell = psutil.Process(int(subprocess.run(
            [*tmux, "display-message", "-p", "-t", "ft", "#{pane_pid}"],
            capture_output=True, text=True).stdout))
        app = next(p for p in shell.children(recursive=True)
                   if any("ft-tui" in part or "ft_tui" in part for part in p.cmdline()))
        keys("s")
        seen: dict = {}
        deadline = time.perf_counter() + TIMEOUT_S
        while len(times := step_log_times(run, seen)) < STOP_AFTER:
            assert app.is_running() and time.perf_counter() < deadline, screen()
            time.sleep(0.02)
        time.sleep(STOP_DELAY_S)
        keys("q")
        deadline = time.perf_counter() + 30
        while "Quit?" not in screen():
            assert time.perf_counter() < deadline, screen()
            time.sleep(0.05)
        asked = time.perf_counter()
        keys("y")
        while app.is_running() and app.status() != psutil.STATUS_ZOMBIE:
            assert time.perf_counter() - asked < TIMEOUT_S, screen()
            time.sleep(0.02)
        exited = time.perf_counter() - asked
        step_logs = step_log_times(run, seen)
        return {"arm": "wizard Quit", "step_s": step_time(times), "state": status(run),
                "to_exit_s": exited, "steps_logged": len(step_logs)}
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--only", choices=("request_stop", "SIGINT", "quit"))
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    arms = {"request_stop": in_process, "SIGINT": headless_sigint, "quit": wizard_quit}
    for name, arm in arms.items():
        if args.only and args.only != name:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            r = arm(Path(tmp), args)
        limit = r["step_s"] + 10
        worst = max(v for k, v in r.items() if k.startswith("to_") and v == v)
        times = ", ".join(f"{k[3:-2]} {v:.1f} s" for k, v in r.items() if k.startswith("to_"))
        print(f"{r['arm']:>12}: optimizer step {r['step_s']:.1f} s; stop -> {times}; "
              f"state {r['state']!r}; target <= step + 10 s = {limit:.1f} s: "
              f"{'met' if worst <= limit else 'MISSED'}  {json.dumps(r)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

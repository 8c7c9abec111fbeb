"""Start-up benchmark: time from launching `ft-tui` to its first painted screen.

    python tests/bench/startup.py [--runs 7]

Each launch runs in a pseudo-terminal of 80x24, like a user's SSH session, and the clock
stops when the wizard's first screen has been drawn (the step bar, "Decide" through
"Evaluate", has appeared in the terminal output). So it measures what the user waits for:
interpreter start, imports, composing and the first paint. Baselines measured the same way
in the same run: `python -c "import textual"` (the floor any Textual app pays) and a
minimal Textual app's first paint. Not collected by pytest (no test_ prefix); the goal is a
first paint within 0.5 s, on an idle machine.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ANSI = re.compile(rb"\x1b(\[[0-9;?<>=$ ]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|P[^\x1b]*\x1b\\|[@-Z\\-_])")
HELLO_APP = ("from textual.app import App\nfrom textual.widgets import Static\n"
             "class Hello(App):\n    def compose(self):\n        yield Static('hello-painted')\n"
             "Hello().run()\n")
TIMEOUT_S = 30.0


def launch(argv: list[str], cwd: Path, markers: tuple[bytes, ...] | None) -> float:
    """Seconds until every marker was drawn (or, without markers, until the process ended)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24",
           "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    seen = b""
    try:
        while True:
            elapsed = time.perf_counter() - start
            if elapsed > TIMEOUT_S:
                raise RuntimeError(f"{argv}: nothing painted in {TIMEOUT_S:.0f} s; output: {seen[-300:]!r}")
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:   # the child closed the terminal
                    chunk = b""
                seen += chunk
                if markers and all(m in ANSI.sub(b"", seen) for m in markers):
                    return time.perf_counter() - start
                if not chunk and markers is None:
                    proc.wait()
                    return time.perf_counter() - start
            if markers is None and proc.poll() is not None:
                return time.perf_counter() - start
            if markers and proc.poll() is not None and not ready:
                raise RuntimeError(f"{argv} exited with {proc.returncode} before painting: "
                                   f"{ANSI.sub(b'', seen)[-500:]!r}")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)


def ft_tui_argv() -> list[str]:
    script = Path(sys.executable).with_name("ft-tui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ft_tui"]


def measure(runs: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"import textual": [], "minimal Textual app": [], "ft-tui": []}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)   # no ft-tui.yaml: the first screen a new user sees
        hello = cwd / "hello.py"
        hello.write_text(HELLO_APP)
        launch(ft_tui_argv(), cwd, (b"Decide", b"Evaluate"))   # warm the file cache once
        for _ in range(runs):
            # Interleaved, so a load change on a shared machine hits all three alike.
            results["import textual"].append(
                launch([sys.executable, "-c", "import textual"], cwd, None))
            results["minimal Textual app"].append(
                launch([sys.executable, str(hello)], cwd, (b"hello-painted",)))
            results["ft-tui"].append(launch(ft_tui_argv(), cwd, (b"Decide", b"Evaluate")))
            for leftover in cwd.glob("ft-tui*"):   # the wizard saves its state on exit
                leftover.unlink()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if shutil.which("python") is None and not sys.executable:
        print("no python to launch", file=sys.stderr)
        return 1
    results = measure(args.runs)
    base = statistics.median(results["import textual"])
    print(f"{args.runs} launches each, 80x24 pseudo-terminal; median (min) seconds")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"  {name:<22} {median:6.3f} ({min(times):.3f})   x{median / base:.2f} of import textual")
    first_paint = statistics.median(results["ft-tui"])
    hello = statistics.median(results["minimal Textual app"])
    print(f"ft-tui first paint / minimal app first paint: x{first_paint / hello:.2f}")
    print(f"ft-tui first paint within 0.5 s: {'yes' if first_paint <= 0.5 else 'no'} "
          f"({first_paint:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

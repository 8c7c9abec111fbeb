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
FT_TUI_MARKERS = (b"Decide", b"Evaluate")   # the step bar: drawn with the first screen


def launch(argv: list[str], cwd: Path, markers: tuple[bytes, ...] | None) -> tuple[float, float]:
    """(wall seconds until every marker was drawn, or without markers until the process
    ended; CPU seconds the process used by then). On a shared machine the CPU time is the
    steadier number: it does not grow when other jobs take the cores."""
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
            if time.perf_counter() - start > TIMEOUT_S:
                proc.kill()
                raise RuntimeError(f"{argv}: nothing painted in {TIMEOUT_S:.0f} s; output: "
                                   f"{ANSI.sub(b'', seen)[-300:]!r}")
            ready, _, _ = select.select([master], [], [], 0.02)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:   # the child closed the terminal
                    pass
                if markers and all(m in ANSI.sub(b"", seen) for m in markers):
                    wall = time.perf_counter() - start
                    proc.kill()   # at once, so its CPU time stops at the paint too
                    _, _, usage = os.wait4(proc.pid, 0)
                    break
            # Reaped with wait4 (not Popen.poll) to read the child's CPU time.
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                wall = time.perf_counter() - start
                if markers:
                    raise RuntimeError(f"{argv} exited ({status}) before painting: "
                                       f"{ANSI.sub(b'', seen)[-500:]!r}")
                break
    finally:
        proc.returncode = proc.returncode if proc.returncode is not None else 0
        os.close(master)
    return wall, usage.ru_utime + usage.ru_stime


def ft_tui_argv() -> list[str]:
    script = Path(sys.executable).with_name("ft-tui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ft_tui"]


def measure(runs: int) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {
        "import textual": [], "minimal Textual app": [], "ft-tui": []}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)   # no ft-tui.yaml: the first screen a new user sees
        hello = cwd / "hello.py"
        hello.write_text(HELLO_APP)
        launch(ft_tui_argv(), cwd, FT_TUI_MARKERS)   # warm the file cache once
        for _ in range(runs):
            # Interleaved, so a load change on a shared machine hits all three alike.
            results["import textual"].append(
                launch([sys.executable, "-c", "import textual"], cwd, None))
            results["minimal Textual app"].append(
                launch([sys.executable, str(hello)], cwd, (b"hello-painted",)))
            results["ft-tui"].append(launch(ft_tui_argv(), cwd, FT_TUI_MARKERS))
            for leftover in cwd.glob("ft-tui*"):   # the wizard may save its state
                leftover.unlink()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results = measure(args.runs)
    load = os.getloadavg()[0]
    wall = {name: statistics.median(w for w, _ in times) for name, times in results.items()}
    cpu = {name: statistics.median(c for _, c in times) for name, times in results.items()}
    print(f"{args.runs} launches each in an 80x24 pseudo-terminal, load average {load:.1f}; medians")
    print(f"  {'':<22} {'wall s':>7} {'CPU s':>7}   wall ratio   CPU ratio (to import textual)")
    for name in results:
        print(f"  {name:<22} {wall[name]:7.3f} {cpu[name]:7.3f}   x{wall[name] / wall['import textual']:<10.2f}"
              f" x{cpu[name] / cpu['import textual']:.2f}")
    print(f"ft-tui vs minimal Textual app: wall x{wall['ft-tui'] / wall['minimal Textual app']:.2f}, "
          f"CPU x{cpu['ft-tui'] / cpu['minimal Textual app']:.2f}")
    verdict = "yes" if wall["ft-tui"] <= 0.5 else "no"
    print(f"ft-tui first paint within 0.5 s (wall): {verdict} ({wall['ft-tui']:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

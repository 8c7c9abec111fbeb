"""`ft-tui` in a real terminal: tmux at 80x24, driven with send-keys, read with capture-pane.

Each test uses its own tmux server socket, so it never touches the user's sessions, and
kills that server at the end. Skipped where tmux is not installed.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

STEPS = ("1 Decide", "2 Data", "3 Hardware", "4 Configure", "5 Train", "6 Evaluate")
COLOUR = re.compile(r"\x1b\[([0-9;]*)m")


class Tmux:
    def __init__(self, socket: str):
        self.base = ["tmux", "-L", socket, "-f", os.devnull]

    def __call__(self, *args: str) -> str:
        done = subprocess.run([*self.base, *args], capture_output=True, text=True)
        assert done.returncode == 0, f"tmux {args[0]} failed: {done.stderr.strip()}"
        return done.stdout

    def screen(self, escapes: bool = False) -> str:
        return self("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "ft")

    def wait_for(self, *texts: str, timeout_s: float = 30.0) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            screen = self.screen()
            if all(t in screen for t in texts):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{texts} never appeared; the screen shows:\n{screen}")
            time.sleep(0.1)

    def wait_gone(self, text: str, timeout_s: float = 30.0) -> str:
        deadline = time.monotonic() + timeout_s
        while text in (screen := self.screen()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} is still on the screen:\n{screen}")
            time.sleep(0.1)
        return screen

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", "ft", *keys)


@pytest.fixture()
def start_app(tmp_path):
    servers = []

    def start(**env: str) -> Tmux:
        tmux = Tmux(f"ft-tui-test-{uuid.uuid4().hex[:12]}")
        # A second wizard in the same folder would find the config held (read-only
        # prompt): each later one gets a folder of its own.
        folder = tmp_path / f"wizard-{len(servers)}" if servers else tmp_path
        folder.mkdir(exist_ok=True)
        servers.append(tmux)
        script = Path(sys.executable).with_name("ft-tui")
        program = str(script) if script.exists() else f"{sys.executable} -m ft_tui"
        settings = {"TERM": "xterm-256color", "HF_HUB_OFFLINE": "1", **env}
        flags = [arg for key, value in settings.items() for arg in ("-e", f"{key}={value}")]
        # "; sleep" keeps the pane (and its last screen) after the app exits
        command = f"cd {shlex.quote(str(folder))} && {program}; echo exited $?; sleep 30"
        tmux("new-session", "-d", "-s", "ft", "-x", "80", "-y", "24", *flags, command)
        return tmux

    yield start
    for tmux in servers:
        subprocess.run([*tmux.base, "kill-server"], capture_output=True)


def test_steps_appear_and_keys_reach_each_step(start_app, tmp_path):
    tmux = start_app()
    screen = tmux.wait_for(*STEPS)
    assert "Should you fine-tune" in screen
    assert len(screen.splitlines()) <= 24 and max(len(l) for l in screen.splitlines()) <= 80

    # Nothing listens on a port (the web-UI failure mode over SSH): check the live process.
    import psutil

    shell = psutil.Process(int(tmux("display-message", "-p", "-t", "ft", "#{pane_pid}")))
    apps = [p for p in shell.children(recursive=True)
            if any("ft-tui" in part or "ft_tui" in part for part in p.cmdline())]
    assert apps, "the ft-tui process was not found"
    for proc in apps:
        assert not [c for c in proc.net_connections(kind="all") if c.status == psutil.CONN_LISTEN]

    tmux.keys("5")
    tmux.wait_for("Start (s)", "No run yet", "▶ 5 Train")   # the view and the step bar
    tmux.keys("6")
    tmux.wait_for("Evaluate (e)", "GGUF (g)", "No training run yet")
    tmux.keys("?")
    tmux.wait_for("ship or don't ship", "Esc closes")
    tmux.keys("Escape")        # alone: Escape followed at once by q would read as Alt+q
    tmux.wait_gone("Esc closes")
    tmux.keys("q")
    tmux.wait_for("exited 0")
    assert (tmp_path / "ft-tui.wizard.json").is_file()   # where to continue next time


def _colour_codes(screen: str) -> set[int]:
    codes = set()
    for params in COLOUR.findall(screen):
        parts = [int(p) for p in params.split(";") if p]
        for i, p in enumerate(parts[:-2]):
            if p in (38, 48) and parts[i + 1] == 5:
                codes.add(parts[i + 2])
    return codes


def _is_grey(code: int) -> bool:
    if code >= 232 or code in (0, 7, 8, 15):
        return True
    if 16 <= code <= 231:
        r, g, b = (code - 16) // 36, (code - 16) // 6 % 6, (code - 16) % 6
        return r == g == b
    return False


def test_no_color_draws_in_greys_only_and_stays_readable(start_app):
    coloured = start_app()
    coloured.wait_for(*STEPS)
    assert any(not _is_grey(c) for c in _colour_codes(coloured.screen(escapes=True)))

    plain = start_app(NO_COLOR="1")
    plain.wait_for(*STEPS)
    plain.keys("5")
    plain.wait_for("Start (s)")
    codes = _colour_codes(plain.screen(escapes=True))
    assert codes and all(_is_grey(c) for c in codes), sorted(c for c in codes if not _is_grey(c))

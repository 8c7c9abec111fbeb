"""The wizard's terminal goes away (SIGHUP): it closes cleanly instead of dying mid-write,
so an evaluation or export in progress ends at its next progress report with what it
finished kept, and the process's exit is its own (code 0), not the signal's."""

import os
import pty
import signal
import subprocess
import sys
import threading
import time


def test_sighup_closes_the_wizard_cleanly(tmp_path):
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ft_tui"], cwd=tmp_path, stdin=slave,
                            stdout=slave, stderr=slave, start_new_session=True,
                            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "80",
                                 "LINES": "24"})
    os.close(slave)
    shown = bytearray()

    def drain():
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            shown.extend(chunk)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 120
    while b"Decide" not in shown:
        assert time.monotonic() < deadline, "the wizard never painted"
        time.sleep(0.1)
    proc.send_signal(signal.SIGHUP)
    os.close(master)              # the terminal is gone: writes to it would fail now
    assert proc.wait(timeout=60) == 0     # not -SIGHUP: it closed itself

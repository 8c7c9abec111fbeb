"""The wizard's terminal goes away (SIGHUP): it closes cleanly instead of dying mid-write,
so an evaluation or export in progress ends at its next progress report with what it
finished kept, and the process's exit is its own (code 0), not the signal's."""

import os
import signal
import sys
import time

from tests.fixtures.terminal import start_in_pty


def test_sighup_closes_the_wizard_cleanly(tmp_path):
    proc, master, shown = start_in_pty([sys.executable, "-m", "ft_tui"], cwd=tmp_path,
                                        env={"COLUMNS": "80", "LINES": "24"})
    deadline = time.monotonic() + 120
    while b"Decide" not in shown:
        assert time.monotonic() < deadline, "the wizard never painted"
        time.sleep(0.1)
    proc.send_signal(signal.SIGHUP)
    os.close(master)              # the terminal is gone: writes to it would fail now
    assert proc.wait(timeout=60) == 0     # not -SIGHUP: it closed itself

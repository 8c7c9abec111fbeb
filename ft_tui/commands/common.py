"""Shared by the commands: exit codes and the one way to report a failure."""

from __future__ import annotations

import os
import sys
import traceback
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1          # the command ran and found/produced an error (bad data, failed run)
    USAGE = 2          # wrong arguments, missing file
    INTERRUPTED = 130  # Ctrl+C


def fail(message: str, code: ExitCode = ExitCode.ERROR, debug_exc: BaseException | None = None) -> int:
    """Print one line to stderr and return the exit code. Traceback only with FT_TUI_DEBUG=1."""
    if debug_exc is not None and os.environ.get("FT_TUI_DEBUG"):
        traceback.print_exception(debug_exc)
    print(f"ft-tui: {message}", file=sys.stderr)
    return int(code)

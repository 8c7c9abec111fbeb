"""Shared by the commands: exit codes and the one way to report a failure."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1          # the command ran and found/produced an error (bad data, failed run)
    USAGE = 2          # wrong arguments, missing file
    GATE = 3           # `ft-tui eval --gate`: the verdict is "don't ship"
    INTERRUPTED = 130  # Ctrl+C


def fail(message: str, code: ExitCode = ExitCode.ERROR, debug_exc: BaseException | None = None) -> int:
    """Print one line to stderr and return the exit code. Traceback only with FT_TUI_DEBUG=1."""
    if debug_exc is not None and os.environ.get("FT_TUI_DEBUG"):
        traceback.print_exception(debug_exc)
    print(f"ft-tui: {message}", file=sys.stderr)
    return int(code)


def number_in(kind: type, low: float, high: float | None = None, *, exclusive: bool = False,
              example: str = ""):
    """An argparse ``type=`` that parses a number and checks its range, so a bad flag gets
    one line that names the allowed values (``exclusive``: the bounds themselves are out)."""
    noun = "a whole number" if kind is int else "a number"

    def parse(raw: str):
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {raw!r}") from None
        if exclusive:
            outside = value <= low or (high is not None and value >= high)
        else:
            outside = value < low or (high is not None and value > high)
        if outside:
            if high is None:
                wanted = f"more than {low}" if exclusive else f"{low} or more"
            else:
                wanted = f"between {low} and {high}{example}"
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {raw}")
        return value
    return parse

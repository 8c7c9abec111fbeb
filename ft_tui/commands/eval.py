"""`ft-tui eval` (placeholder until its issue lands)."""

from ft_tui.commands.common import ExitCode, fail


def add_arguments(parser):
    pass


def run(args) -> int:
    return fail("'eval' is not implemented yet", ExitCode.ERROR)

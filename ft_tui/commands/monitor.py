"""`ft-tui monitor RUN_DIR`: watch a training run from another terminal.

    ft-tui train config.yaml          # e.g. under tmux or nohup on the GPU box
    ft-tui monitor runs/<run name>    # attach; q leaves, the training goes on; x stops it
    ft-tui monitor                    # the run that trains now under ./runs (or the newest)

It only reads the run directory (metrics.jsonl and status.json): no port is opened, so it
works over plain SSH and can be left and re-attached at any time, also after the run ended.
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", nargs="?",
                        help="the run directory that `ft-tui train` created (holds metrics.jsonl); "
                             "default: the one training now under the output folder")
    parser.add_argument("--output-dir", metavar="DIR",
                        help="where to look without RUN_DIR (default: ft-tui.yaml's output_dir, else runs)")


def run(args) -> int:
    from ft_tui.commands.runs import default_output_dir
    from ft_tui.tui.monitor import run_monitor  # Textual loads only for this command

    return run_monitor(args.run_dir, args.output_dir or default_output_dir())

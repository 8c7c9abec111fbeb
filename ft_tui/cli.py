"""Command line: `ft-tui [COMMAND]`. No command opens the wizard.

    ft-tui                           the wizard (Textual app)
    ft-tui inspect data.jsonl        check a data set; --json for machines
    ft-tui hw --model default        GPUs, memory plan, recommended settings
    ft-tui baseline data.jsonl       the prompted base model's score, before training
    ft-tui download ORG/NAME         fetch a Hugging Face Hub model (progress, resumable)
    ft-tui train [config.yaml]       headless training into a run directory
    ft-tui eval RUN_DIR              base vs fine-tuned on held-out data
    ft-tui export RUN_DIR --merge    adapter, merged model, config, script
    ft-tui chat RUN_DIR              base and fine-tuned answers to your prompts, streamed
    ft-tui monitor RUN_DIR           the dashboard attached to a run directory
    ft-tui runs                      the runs under the output folder: which still train

Each command lives in ``ft_tui/commands/<name>.py`` with ``add_arguments(parser)`` and
``run(args) -> int``. ``build_parser`` imports all of them to register their flags; they
import only the standard library at the top and core inside ``run``, so `--help` stays fast
(tests/test_architecture.py checks that no heavy library is loaded).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ft_tui import __version__
from ft_tui.commands.common import ExitCode, fail

COMMANDS = {
    "inspect": "Check a fine-tuning data set and report every problem with its line number.",
    "hw": "Show GPUs and memory; estimate full / LoRA / QLoRA memory and recommend settings.",
    "baseline": "Score the prompted base model on your data before training (zero- and few-shot).",
    "download": "Fetch a Hugging Face Hub model into the cache, with progress (resumable).",
    "train": "Train headless into a run directory (resumable).",
    "eval": "Compare the base model and the fine-tuned model on held-out data.",
    "export": "Write the adapter, a merged model, the config and a standalone script.",
    "chat": "Chat with the base and the fine-tuned model of a run, side by side, streamed.",
    "monitor": "Open the training dashboard on a run directory (live or finished).",
    "runs": "List the runs under the output folder: state (running + PID), step, loss, verdict.",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors: one line and exit code 2, no traceback
        self.print_usage(sys.stderr)
        print(f"ft-tui: error: {message}", file=sys.stderr)
        raise SystemExit(ExitCode.USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ft-tui", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ft-tui {__version__}")
    parser.add_argument("--config", help="Run config YAML for the wizard (default: ./ft-tui.yaml if present)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _module(name).add_arguments(p)
    return parser


def _module(name: str):
    return importlib.import_module(f"ft_tui.commands.{name}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from ft_tui.tui.app import run_app

            return int(run_app(config_path=args.config))
        return int(_module(args.command).run(args))
    except KeyboardInterrupt:
        print("ft-tui: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:  # e.g. `ft-tui inspect --json | head`
        return int(ExitCode.OK)
    except Exception as exc:  # last line of defence: one clear line, never a traceback
        return fail(f"unexpected error: {type(exc).__name__}: {exc}. "
                    "Set FT_TUI_DEBUG=1 to see the traceback.", debug_exc=exc)


if __name__ == "__main__":
    sys.exit(main())

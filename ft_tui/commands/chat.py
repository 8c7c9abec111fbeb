"""`ft-tui chat RUN_DIR`: type a prompt; the base and the fine-tuned model answer, streamed.

Both get the run's system prompt and chat template and answer greedily. `/clear` forgets
the conversation, `/quit` (or Ctrl+D) leaves. `--prompt TEXT` answers one prompt and exits.
"""

from __future__ import annotations

import argparse
import sys

from ft_tui.commands.common import ExitCode, fail
from ft_tui.commands.eval import run_error_code
from ft_tui.core.quiet import quiet_libraries

LABELS = {"base": "base", "finetuned": "fine-tuned"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory made by `ft-tui train`")
    parser.add_argument("--prompt", default=None, help="answer this one prompt and exit")


def run(args) -> int:
    quiet_libraries()
    from ft_tui.core.models.chat import SIDES, open_chat
    from ft_tui.core.run.artifacts import RunError

    try:
        session = open_chat(args.run_dir, log=lambda msg: print(f"… {msg}", file=sys.stderr))
    except RunError as exc:
        return fail(str(exc), run_error_code(exc))
    if session.system_prompt:
        print(f"system prompt: {session.system_prompt}", file=sys.stderr)

    def answer(prompt: str) -> None:
        for side in SIDES:
            sys.stdout.write(f"[{LABELS[side]}] ")
            session.reply(side, prompt, lambda piece: (sys.stdout.write(piece), sys.stdout.flush()))
            sys.stdout.write("\n")
        sys.stdout.flush()

    if args.prompt is not None:
        answer(args.prompt)
        return int(ExitCode.OK)
    print("Type a prompt (/clear forgets the conversation, /quit or Ctrl+D leaves).", file=sys.stderr)
    while True:
        try:
            prompt = input("you> ").strip()
        except EOFError:
            print(file=sys.stderr)
            return int(ExitCode.OK)
        if prompt in ("/quit", "/exit"):
            return int(ExitCode.OK)
        if prompt == "/clear":
            session.clear()
            continue
        if prompt:
            answer(prompt)

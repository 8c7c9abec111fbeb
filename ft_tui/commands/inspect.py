"""`ft-tui inspect PATH`: check a fine-tuning data set and report every problem.

    ft-tui inspect train.jsonl                     readable report
    ft-tui inspect train.jsonl --json | jq .       one JSON object on stdout
    ft-tui inspect train.jsonl --clean             also write train.cleaned.jsonl
    ft-tui inspect train.jsonl --split 0.1         also write train.train.jsonl / train.eval.jsonl
    ft-tui inspect train.jsonl --show-mask 12      the example on line 12 as the model sees it,
                                                   trained tokens marked (--json: segments)

Exit codes: 0 no error, 1 any error or no usable example, 2 usage error (missing file,
bad flag, unknown model).
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

from ft_tui.commands.common import ExitCode, fail, number_in

TASK_CHOICES = ("classification", "extraction", "style", "domain", "code")
NO_MODEL = ("none", "off")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("path", help="Data file: .jsonl, .json (array), .txt ('input ### output'), "
                                     ".csv, .parquet or .arrow, any of them .gz/.zst; or a "
                                     "folder, a quoted glob ('data/*.jsonl') or a "
                                     "datasets save_to_disk folder")
    parser.add_argument("--json", action="store_true",
                        help="Print one JSON object on stdout (diagnostics go to stderr)")
    parser.add_argument("--model", default="default",
                        help="Tokenizer for token lengths: 'default' (SmolLM2), a local folder, "
                             "a .gguf file, a cached hub id, or 'none' to skip (default: %(default)s)")
    parser.add_argument("--max-length", type=number_in(int, 1), default=512,
                        help="Longest example in tokens before a too_long warning (default: %(default)s)")
    parser.add_argument("--task-type", choices=TASK_CHOICES,
                        help="Task type for the too-few-examples check (default: guessed from the outputs)")
    parser.add_argument("--clean", action="store_true",
                        help="Write <name>.cleaned<ext> beside the file: repeats and invalid rows dropped")
    parser.add_argument("--split", metavar="FRACTION",
                        type=number_in(float, 0, 1, exclusive=True, example=" (e.g. 0.1)"),
                        help="Write <name>.train<ext> and <name>.eval<ext> with this share held out "
                             "(stratified by label when the outputs are labels)")
    parser.add_argument("--seed", type=int, default=42, help="Seed for --split (default: %(default)s)")
    parser.add_argument("--show-mask", type=number_in(int, 1), metavar="LINE",
                        help="Show the example starting on LINE as the model sees it: trained "
                             "tokens bold, masked ones dim")
    parser.add_argument("--train-on", choices=("all_assistant", "last_assistant"),
                        default="all_assistant",
                        help="Answers trained (data.train_on), for --show-mask and the count of "
                             "examples truncation leaves untrained (default: %(default)s)")


def _diag(message: str) -> None:
    print(message, file=sys.stderr)


class ProgressLine:
    """``reading… 120,000 rows, 41,000 rows/s, 3 s`` rewritten in place on stderr (a
    terminal only), once reading has taken more than two seconds."""

    AFTER_S = 2.0

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.shown = False

    def __call__(self, rows: int, seconds: float) -> None:
        if seconds < self.AFTER_S:
            return
        self.stream.write(f"\r  reading… {rows:,} rows, {rows / seconds:,.0f} rows/s, "
                          f"{seconds:.0f} s ")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def run(args) -> int:
    from ft_tui.core.paths import resolve_data_path

    path = Path(resolve_data_path(args.path))
    if not path.exists() and not glob.has_magic(args.path):
        return fail(f"{args.path}: no such file", ExitCode.USAGE)
    from ft_tui.core.data.containers import data_files

    files = data_files(path)
    if isinstance(files, str):   # a folder or pattern with nothing to read
        return fail(files, ExitCode.USAGE)
    tokenizer = None
    if args.model.lower() not in NO_MODEL:
        tokenizer = _load_tokenizer(args.model)
        if isinstance(tokenizer, int):
            return tokenizer

    if args.show_mask:
        return show_mask(args, path, tokenizer)

    from ft_tui.core.data import inspect_path

    progress = ProgressLine() if sys.stderr.isatty() else None
    try:
        report = inspect_path(path, tokenizer=tokenizer, max_length=args.max_length,
                              task_type=args.task_type, train_on=args.train_on,
                              progress=progress)
    except OSError as exc:  # unreadable file (permissions, vanished meanwhile)
        return fail(f"{args.path}: cannot read: {exc.strerror or exc}", ExitCode.USAGE)
    finally:
        if progress is not None:
            progress.clear()
    from ft_tui.core.data.clean import CleanRefused

    try:
        written = _actions(args, path, report)
    except CleanRefused as exc:
        return fail(f"--clean refused: {exc}", ExitCode.ERROR)
    except OSError as exc:
        return fail(f"cannot write beside {args.path}: {exc.strerror or exc}", ExitCode.ERROR)
    data = report.to_dict()
    if args.json:
        if written:
            data["written"] = {k: str(v) for k, v in written.items()}
        json.dump(data, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        render_report(data, written, args.model if tokenizer is not None else None)
    return int(ExitCode.OK if report.ok else ExitCode.ERROR)


def show_mask(args, path: Path, tokenizer) -> int:
    """``--show-mask LINE``: one example, trained tokens marked."""
    from ft_tui.core.data import load_examples
    from ft_tui.core.data.masks import TemplateError, build_mask

    if tokenizer is None:
        return fail("--show-mask needs a tokenizer; drop --model none", ExitCode.USAGE)
    from ft_tui.core.models.generation import ensure_chat_template

    ensure_chat_template(tokenizer)  # what training uses for a model without one
    result = load_examples(path)
    example = next((ex for ex in result.examples if ex.line == args.show_mask), None)
    if example is None:
        issue = next((e for e in result.errors if e.line == args.show_mask), None)
        if issue is not None:
            return fail(f"{args.path}: line {issue.line}: {issue.message}", ExitCode.ERROR)
        starts = [ex.line for ex in result.examples]
        near = min(starts, key=lambda n: abs(n - args.show_mask), default=None)
        hint = f"; the nearest example starts on line {near}" if near else ""
        return fail(f"{args.path}: no example starts on line {args.show_mask}{hint}", ExitCode.ERROR)
    if example.chosen is not None or example.label is not None:
        return fail(f"{args.path} is {result.format} data, which supervised fine-tuning does not "
                    "train on; --show-mask shows SFT examples", ExitCode.ERROR)
    try:
        masked = build_mask(tokenizer, example.messages, example.tools, args.train_on)
    except TemplateError as exc:
        return fail(f"{args.path}: line {example.line}: {exc}", ExitCode.ERROR)
    from ft_tui.core.data.cut import cut_offset, split_segments

    # As the trainer sees it: what --max-length cuts off is shown, and not trained.
    cut = cut_offset(tokenizer, masked.text, masked.input_ids, args.max_length)
    data = {"line": example.line, "segments": split_segments(masked.segments(), cut),
            "trained_tokens": sum(1 for x in masked.labels[:args.max_length] if x != -100),
            "tokens": len(masked.input_ids), "max_length": args.max_length,
            "inline_tools": masked.inline_tools, "note": masked.fallback or None}
    if args.json:
        json.dump(data, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return int(ExitCode.OK)
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    console.print(f"[bold]{args.path}[/bold] line {example.line}: {data['trained_tokens']} of "
                  f"{len(masked.input_ids)} tokens trained ([bold green]trained[/bold green], "
                  "[dim]context[/dim])\n")
    text = Text()
    for seg in data["segments"]:
        text.append(seg["text"], style="strike red" if seg["cut"] else
                    "bold green" if seg["trained"] else "dim")
    console.print(text)
    if len(masked.input_ids) > args.max_length:
        console.print(f"\n[red]cut[/red]: {len(masked.input_ids) - args.max_length} tokens past "
                      f"--max-length {args.max_length} (struck through) are never trained")
    if masked.inline_tools:
        console.print("\n[yellow]note[/yellow]: this model's chat template does not render tools, "
                      "so the tool calls are trained as <tool_call> text and the schemas sit in "
                      "the system message")
    if masked.fallback:
        console.print(f"\n[yellow]note[/yellow]: {masked.fallback}")
    return int(ExitCode.OK)


def _load_tokenizer(model: str):
    """The model's tokenizer, or an exit code after saying why it cannot be had."""
    from ft_tui.core.models.resolve import ModelNotFound, load_tokenizer, prepare_model

    try:
        folder = prepare_model(model, log=_diag)
        return load_tokenizer(folder)
    except ModelNotFound as exc:
        return fail(f"--model: {exc} (or pass --model none to skip token lengths)", ExitCode.USAGE)
    except (OSError, ValueError) as exc:
        return fail(f"--model {model}: cannot load its tokenizer: {exc} (pass --model none to "
                    "skip token lengths)", ExitCode.USAGE, debug_exc=exc)


def _actions(args, path: Path, report) -> dict[str, Path]:
    from ft_tui.core.data import write_cleaned, write_split

    written: dict[str, Path] = {}
    if args.clean and report.n_examples:
        written["cleaned"] = write_cleaned(path)
        _diag(f"Cleaned copy written to {written['cleaned']}")
    if args.split and report.n_examples:
        written["train"], written["eval"] = write_split(path, args.split, args.seed)
        _diag(f"Split written: {written['train']} and {written['eval']}")
    return written


# ----- the readable report ----------------------------------------------------------------

MAX_ERRORS_SHOWN = 50
MAX_LINES_SHOWN = 10


def render_report(data: dict, written: dict[str, Path], model: str | None, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(highlight=False)
    errors, warnings = data["errors"], data["warnings"]
    task = data.get("task_type") or {}
    console.print(f"[bold]{data['path']}[/bold]")
    console.print(f"  format     {data['format'] or 'not recognised'}")
    console.print(f"  examples   {data['n_examples']} valid, {len(errors)} with errors")
    if task:
        how = f"assumed: {task['reason']}" if task["assumed"] else "as given"
        console.print(f"  task type  {task['name']} ({how}); minimum {task['minimum']}, "
                      f"good {task['good']}+")
    if errors:
        table = Table(title=f"Errors ({len(errors)})", title_justify="left", show_lines=False)
        table.add_column("line", justify="right", style="bold red")
        table.add_column("code", style="red")
        table.add_column("problem and fix", overflow="fold")
        for err in errors[:MAX_ERRORS_SHOWN]:
            table.add_row(str(err["line"]), err["code"], err["message"])
        console.print(table)
        if len(errors) > MAX_ERRORS_SHOWN:
            console.print(f"  … and {len(errors) - MAX_ERRORS_SHOWN} more errors (--json lists all)")
    if warnings:
        console.print(f"\n[bold]Warnings ({len(warnings)})[/bold]")
        for warning in warnings:
            console.print(f"  [yellow]! {warning['code']}[/yellow]: {warning['message']}")
            if warning["lines"]:
                console.print(f"    [dim]lines {_lines_text(warning['lines'])}[/dim]")
    _render_tokens(console, data.get("tokens"), model)
    _render_labels(console, data.get("labels"))
    _render_pairs(console, data)
    for name, target in written.items():
        console.print(f"[green]wrote[/green] {name}: {target}")
    untrained = (data.get("tokens") or {}).get("n_untrained") or 0
    if data["n_examples"] and not errors and untrained >= data["n_examples"]:
        console.print(f"\n[bold red]✗ no example has a trained token[/bold red] within max length "
                      f"{data['tokens']['max_length']}: every answer is cut off (see "
                      "no_trained_token above); raise --max-length or shorten the prompts")
    elif data["n_examples"] and not errors and not data.get("sft_usable", True):
        what = "preference pairs" if data["format"] == "preference" else "KTO rows"
        console.print(f"\n[bold yellow]✓ {data['n_examples']} {what} read, but supervised "
                      "fine-tuning (SFT) cannot use them[/bold yellow] (see not_for_sft above)")
    elif data["n_examples"] and not errors:
        console.print(f"\n[bold green]✓ {data['n_examples']} examples ready[/bold green]"
                      + (f", {untrained} of them with no trained token after truncation"
                         if untrained else "")
                      + (f" ({len(warnings)} warnings to review)" if warnings else ""))
    elif not data["n_examples"]:
        console.print("\n[bold red]✗ no usable example[/bold red]: fix the errors above; the "
                      "formats ft-tui reads are OpenAI chat, ShareGPT, Alpaca, "
                      "prompt/completion and 'input ### output' text")
    else:
        console.print(f"\n[bold red]✗ {len(errors)} rows with errors[/bold red]: fix them, or run "
                      f"with --clean to write a copy without them")


def _lines_text(lines: list) -> str:
    shown = [f"{x[0]}↔{x[1]}" if isinstance(x, list) else str(x) for x in lines[:MAX_LINES_SHOWN]]
    more = f" … (+{len(lines) - MAX_LINES_SHOWN})" if len(lines) > MAX_LINES_SHOWN else ""
    return ", ".join(shown) + more


def _render_tokens(console, tokens: dict | None, model: str | None) -> None:
    from ft_tui.core.data.report import longest

    if not tokens:
        console.print("\n[dim]Token lengths skipped (--model none).[/dim]")
        return
    if tokens["median"] is None:
        return
    console.print(f"\n[bold]Tokens per example[/bold] (chat template of {model}): min {tokens['min']}, "
                  f"median {tokens['median']}, p95 {tokens['p95']}, "
                  f"max {longest(tokens)}; "
                  f"{tokens['n_too_long']} over max length {tokens['max_length']}"
                  + (f", {tokens['n_untrained']} of them with no trained token left"
                     if tokens.get("n_untrained") else ""))


def _render_pairs(console, data: dict) -> None:
    pref, kto = data.get("preference"), data.get("kto")
    if pref:
        console.print(f"\n[bold]Preference pairs[/bold] {pref['pairs']}: the chosen answer is "
                      f"longer in {pref['chosen_longer']} ({pref['chosen_longer_share']:.0%})")
    if kto:
        console.print(f"\n[bold]KTO labels[/bold] true {kto['true']}, false {kto['false']}")


def _render_labels(console, labels: dict | None) -> None:
    if not labels:
        return
    console.print(f"\n[bold]Labels ({len(labels)})[/bold]")
    top = max(labels.values())
    width = max(len(label) for label in labels)
    for label, count in list(labels.items())[:20]:
        bar = "█" * max(1, round(30 * count / top))
        console.print(f"  {label:<{width}}  {bar} {count}")
    if len(labels) > 20:
        console.print(f"  … and {len(labels) - 20} more")

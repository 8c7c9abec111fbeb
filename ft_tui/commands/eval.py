"""`ft-tui eval RUN_DIR`: the prompted base model vs the fine-tuned model on held-out data.

    ft-tui eval runs/lora-SmolLM2-...                 table + verdict, writes eval.json/report.md
    ft-tui eval runs/lora-SmolLM2-... --few-shot 3    a stronger (few-shot) baseline
    ft-tui eval runs/lora-SmolLM2-... --json          the summary object and the bar, for scripts
    ft-tui eval runs/lora-SmolLM2-... --gate          exit 3 when the verdict is "don't ship"
    ft-tui eval runs/lora-SmolLM2-... --baseline b.json   the bar: `ft-tui baseline --json > b.json`
    ft-tui eval runs/lora-SmolLM2-... --judge         also grade with the LLM judge in the config
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ft_tui.commands.common import ExitCode, fail, number_in
from ft_tui.core.quiet import quiet_libraries
from ft_tui.core.wizard_file import DEFAULT_CONFIG, wizard_file_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory made by `ft-tui train`")
    parser.add_argument("--max-examples", type=number_in(int, 0), default=None, metavar="N",
                        help="score at most N held-out examples (0: all; default: the run's eval.max_examples)")
    parser.add_argument("--few-shot", type=number_in(int, 0), default=None, metavar="K",
                        help="show the base model K training examples in its prompt (default: the run's eval.few_shot)")
    parser.add_argument("--gate", action="store_true",
                        help="exit with code 3 when the verdict is \"don't ship\" (worse than the "
                             "prompted base, or it forgot general abilities) or the fine-tune does "
                             "not beat the best prompted baseline measured, for CI jobs")
    parser.add_argument("--baseline", metavar="FILE", default=None,
                        help="a prompted baseline measured before training (the JSON `ft-tui "
                             "baseline --json` prints): the fine-tune must beat the best of it and "
                             "this evaluation's base. Default: the one the wizard's Decide step "
                             f"measured, from ./{wizard_file_for(DEFAULT_CONFIG)} (or the progress "
                             "file of --wizard-config), when there is one")
    parser.add_argument("--wizard-config", metavar="FILE", default=DEFAULT_CONFIG,
                        help="the config a wizard was opened with (`ft-tui --config FILE`): its "
                             "Decide step's baseline is the bar (default: ./ft-tui.yaml)")
    parser.add_argument("--no-general", action="store_true",
                        help="skip the general-ability check (40 probes + perplexity on general text)")
    parser.add_argument("--json", action="store_true",
                        help="print eval.json's summary object (one key per metric) and the bar "
                             "(prompted_bar) instead of the table")
    parser.add_argument("--judge", nargs="?", const=_CONFIG_JUDGE, default=None, metavar="URL",
                        help="send the held-out prompts, references and answers (and "
                             "FT_TUI_JUDGE_API_KEY) to the LLM judge for grading: the one in the "
                             "run's eval.judge_url, or URL. Without it a judge named only in the "
                             "config is asked about at a terminal, otherwise skipped")
    parser.add_argument("--judge-model", metavar="NAME", default=None,
                        help="the judge's model name (default: the run's eval.judge_model)")
    parser.add_argument("--judge-allow-http", action="store_true",
                        help="allow a plain http:// judge on another machine (unencrypted)")

    from ft_tui.commands.download import add_offline_flag

    add_offline_flag(parser)


_CONFIG_JUDGE = "\0config"


def consented_judge(args, run_dir: str):
    """The LLMJudge this command may use, or None (the core then notes why none was used):
    named on this command line (``--judge``), or agreed to at the terminal."""
    from ft_tui.core.evaluate.judge import JudgeError, judge_from_config
    from ft_tui.core.run.artifacts import open_run

    eval_cfg = open_run(run_dir).load_config().eval
    overrides = {"judge_url": args.judge if args.judge not in (None, _CONFIG_JUDGE) else None,
                 "judge_model": args.judge_model}
    for key, value in overrides.items():
        if value:
            setattr(eval_cfg, key, value)
    if not eval_cfg.judge_url.strip():
        if args.judge is not None:
            raise JudgeError("the run's config names no judge (eval.judge_url); pass --judge URL")
        return None
    consent = args.judge is not None or _ask(eval_cfg.judge_url)
    if not consent:
        return None
    return judge_from_config(eval_cfg, consent=True, allow_plain_http=args.judge_allow_http)


def _ask(url: str) -> bool:
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    from ft_tui.core.evaluate.judge import consent_question

    print(consent_question(url) + " [y/N] ", end="", file=sys.stderr, flush=True)
    try:
        return input().strip().lower() in ("y", "yes")
    except EOFError:
        return False


def run_error_code(exc: Exception) -> ExitCode:
    """No run directory, nothing trained yet, a run another process is using, an export
    target that holds other files: usage problems (exit 2); anything else that stops the
    command is a failure (exit 1)."""
    from ft_tui.core.run.artifacts import NoRunDir, NotTrained
    from ft_tui.core.run.lock import RunInUse

    from ft_tui.core.export.run import ExportTargetInUse

    usage = (NoRunDir, NotTrained, RunInUse, ExportTargetInUse)
    return ExitCode.USAGE if isinstance(exc, usage) else ExitCode.ERROR


PHASES = {"base": "base model (prompted)", "finetuned": "fine-tuned model", "judge": "LLM judge",
          "general_base": "general check: base", "general_tuned": "general check: fine-tuned"}


def run(args) -> int:
    quiet_libraries()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ft_tui.core.config.settings import ConfigError
    from ft_tui.core.evaluate.judge import JudgeError
    from ft_tui.core.evaluate.run import evaluate_run
    from ft_tui.core.run.artifacts import RunError

    from ft_tui.commands.download import apply_offline, fetch_or_fail, run_config_or_none

    apply_offline(args)
    run_cfg = run_config_or_none(args.run_dir)
    if run_cfg is not None:   # a hub model missing from the cache: fetched first, at its commit
        _, failed = fetch_or_fail(run_cfg)
        if failed is not None:
            return failed
    err = Console(stderr=True)
    progress = Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("{task.fields[speed]}"), console=err,
                        transient=True)
    tasks: dict[str, int] = {}

    def on_progress(done: int, total: int, phase: str, tokens_per_s: float | None = None) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(PHASES.get(phase, phase), total=total, speed="")
        speed = f"{tokens_per_s:,.0f} tokens/s" if tokens_per_s else ""
        progress.update(tasks[phase], completed=done, total=total, speed=speed)

    try:   # a bad --baseline file is said before minutes of answering
        measured, where = measured_baseline(args)
    except ValueError as exc:
        return fail(f"--baseline {exc}", ExitCode.USAGE)
    try:
        judge = consented_judge(args, args.run_dir)
        with progress:
            report = evaluate_run(args.run_dir, max_examples=args.max_examples,
                                  few_shot=args.few_shot, on_progress=on_progress,
                                  general=not args.no_general, judge=judge)
    except JudgeError as exc:
        return fail(f"--judge: {exc}", ExitCode.USAGE)
    except RunError as exc:
        return fail(str(exc), run_error_code(exc))
    except ConfigError as exc:
        return fail(f"the run's config is invalid: {exc}", ExitCode.ERROR)

    data = report.to_dict()
    bar = judged_bar(data, measured, where, run_cfg)
    from ft_tui.core.evaluate.bar import shipping_call

    ship, ship_reason = shipping_call(data["verdict"], bar)
    closed = [] if ship else [ship_reason]   # why the gate closes
    if bar is not None and not bar.beats and bar.where != "this evaluation":
        closed.append(bar.text())   # a higher bar than the verdict's (which has its own): say which
    if args.json:
        print(json.dumps({**data["summary"], "prompted_bar": bar.to_dict() if bar else None,
                          "ship": {"ship": ship, "reason": ship_reason}}, indent=2))
    else:
        print_report(data, Console(), bar)
        print(f"Written: {os.path.join(args.run_dir, 'eval.json')} (every answer) and "
              f"{os.path.join(args.run_dir, 'report.md')}")
    if args.gate and closed:
        print(f"ft-tui: gate closed: {' '.join(closed)}", file=sys.stderr)
        return int(ExitCode.GATE)
    return int(ExitCode.OK)


def measured_baseline(args) -> tuple[dict | None, str]:
    """(the measured baseline or None, where it came from): ``--baseline FILE`` (ValueError
    when it cannot be used), else the Decide step's, from the wizard's file in this folder."""
    from ft_tui.core.evaluate.bar import checked_baseline, read_baseline_file
    from ft_tui.core.wizard_file import WizardFileDamaged, read_wizard_file

    if args.baseline:
        return read_baseline_file(args.baseline), f"from {args.baseline}"
    path = wizard_file_for(args.wizard_config)
    try:
        baseline = read_wizard_file(path)["baseline"]
        return (checked_baseline(baseline, f"{path} baseline") if baseline else None), "measured in Decide"
    except FileNotFoundError:
        return None, "measured in Decide"
    except (WizardFileDamaged, ValueError) as exc:
        print(f"ft-tui: warning: {exc}: its measured baseline is not used", file=sys.stderr)
        return None, "measured in Decide"


def judged_bar(data: dict, measured: dict | None, where: str, run_cfg):
    """The bar the wizard's Evaluate step judges by (core/evaluate/bar.py); a note on
    stderr when a baseline was given for another model, data file or metric."""
    from ft_tui.core.evaluate.bar import comparable, prompted_bar

    data_path = run_cfg.data.train_path if run_cfg is not None else None
    if measured and not comparable(measured, data, data_path):
        print(f"ft-tui: note: the baseline {where} was measured for model "
              f"{measured.get('model')}, data {measured.get('data_path')}, metric "
              f"{measured.get('main_metric')}, not this run's: the bar is this evaluation's base",
              file=sys.stderr)
    return prompted_bar(data, measured, data_path, measured_where=where)


def print_report(data: dict, console, bar=None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ft_tui.core.evaluate.metrics import METRIC_LABELS, NEUTRAL_METRICS

    settings = data["settings"]
    shots = f"{settings['few_shot']}-shot" if settings.get("few_shot") else "zero-shot"
    table = Table(title=f"{data['n_examples']} held-out examples · task: {data['task_kind']} · "
                        f"base prompted {shots}")
    table.add_column("metric")
    for name in ("base", "fine-tuned", "delta"):
        table.add_column(name, justify="right")
    for name, row in data["summary"].items():
        label = METRIC_LABELS.get(name, name)
        delta = row["delta"]
        if name in NEUTRAL_METRICS:
            shown = f"{delta:+.3f}"
        else:
            colour = "green" if delta > 0 else "red" if delta < 0 else "dim"
            shown = f"[{colour}]{delta:+.3f}[/]"
        style = "bold" if name == data["main_metric"] else None
        table.add_row(label + (" (main)" if style else ""), f"{row['base']:.3f}",
                      f"{row['finetuned']:.3f}", shown, style=style)
    console.print(table)
    from ft_tui.core.evaluate.bar import shipping_call, verdict_without_ship

    verdict = data["verdict"]
    console.print(escape(verdict_without_ship(verdict)), highlight=False)
    if bar is not None:   # the bar the verdict must also clear: the best prompt measured
        mark = "[bold green]✓[/]" if bar.beats else "[bold red]✗[/]"
        console.print(f"{mark} Bar: {escape(bar.text())}", highlight=False)
    ship, reason = shipping_call(verdict, bar)   # last, after both comparisons
    console.print(f"[bold {'green' if ship else 'red'}]{escape(reason)}[/]", highlight=False)
    if data.get("general"):
        print_general(data["general"], console)
    for key in ("data_changed", "eval_overlap"):
        if settings.get(key):
            console.print(f"[yellow]warning: {settings[key]}[/]", highlight=False)
    if settings.get("judge_warning"):
        console.print(f"[yellow]warning: {settings['judge_warning']}[/]", highlight=False)
    if settings.get("judge_error"):
        console.print(f"[yellow]LLM judge skipped: {settings['judge_error']}[/]", highlight=False)


def print_general(general: dict, console) -> None:
    from rich.table import Table

    p, ppl = general["probes"], general["perplexity"]
    table = Table(title="General ability (regression gate)")
    table.add_column("check")
    for name in ("base", "fine-tuned", "change (95% CI)"):
        table.add_column(name, justify="right")
    table.add_row(f"{p['n']} general probes passed", f"{p['base']:.2f}", f"{p['finetuned']:.2f}",
                  f"{p['delta']:+.2f} ({p['delta_ci95'][0]:+.2f}..{p['delta_ci95'][1]:+.2f})")
    for cat, row in p["by_category"].items():
        table.add_row(f"  {cat}", f"{row['base']:.2f}", f"{row['finetuned']:.2f}",
                      f"{row['finetuned'] - row['base']:+.2f}")
    table.add_row("perplexity, general text", f"{ppl['base']:.1f}", f"{ppl['finetuned']:.1f}",
                  f"x{ppl['ratio']:.2f} (x{ppl['ratio_ci95'][0]:.2f}..x{ppl['ratio_ci95'][1]:.2f})")
    console.print(table)

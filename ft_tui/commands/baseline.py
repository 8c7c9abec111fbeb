"""`ft-tui baseline DATA`: how well does the prompted base model do, before any training?

    ft-tui baseline sample_data/ticket_triage/train.jsonl              20 held-out examples
    ft-tui baseline data.jsonl --few-shot 5 --max-examples 50           a stronger prompt
    ft-tui baseline data.jsonl --json                                   the scores, for scripts

The held-out examples, prompts and metrics are those `ft-tui eval` uses, and the answers
are cached: a later `ft-tui eval` of a run on this data reuses them.
"""

from __future__ import annotations

import argparse
import json

from ft_tui.commands.common import ExitCode, fail, number_in
from ft_tui.core.quiet import quiet_libraries


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA", help="a data file (JSONL/JSON/CSV) to split like training does")
    parser.add_argument("--eval-data", metavar="FILE", default="",
                        help="a held-out file (default: split DATA as `ft-tui train` would)")
    parser.add_argument("--few-shot", type=number_in(int, 0), default=None, metavar="K",
                        help="also prompt with K worked training examples (default: the config's "
                             "eval.few_shot, or 3; 0: zero-shot only)")
    parser.add_argument("--max-examples", type=number_in(int, 1), default=20, metavar="N",
                        help="score the first N held-out examples (default 20)")
    parser.add_argument("--model", default=None, help="base model (default: the config's, else 'default')")
    parser.add_argument("--system-prompt", default=None,
                        help="system message for examples that have none (default: the config's)")
    parser.add_argument("--config", metavar="YAML", default=None,
                        help="a run config whose model, split, system prompt and eval settings to use")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    from ft_tui.commands.download import add_offline_flag

    add_offline_flag(parser)


def run(args) -> int:
    quiet_libraries()
    from pathlib import Path

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ft_tui.core.config.settings import ConfigError, RunConfig
    from ft_tui.core.evaluate.baseline import measure_baseline
    from ft_tui.core.run.artifacts import RunError

    if not Path(args.data).is_file():
        return fail(f"{args.data}: data file not found", ExitCode.USAGE)
    try:
        cfg = RunConfig.load(args.config) if args.config else RunConfig()
        overrides = {"data.train_path": str(Path(args.data).resolve()),
                     "data.eval_path": str(Path(args.eval_data).resolve()) if args.eval_data else ""}
        if args.model is not None:
            overrides["model.name"] = args.model
        if args.system_prompt is not None:
            overrides["data.system_prompt"] = args.system_prompt
        cfg = cfg.with_overrides(overrides)
    except ConfigError as exc:
        return fail(f"config: {exc}", ExitCode.USAGE)
    except OSError as exc:
        return fail(f"{args.config}: cannot read the config ({exc})", ExitCode.USAGE)

    from ft_tui.commands.download import apply_offline, fetch_or_fail

    apply_offline(args)
    cfg, failed = fetch_or_fail(cfg)   # a hub model: downloaded first, with progress
    if failed is not None:
        return failed
    err = Console(stderr=True)
    progress = Progress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err, transient=True)
    tasks: dict[str, int] = {}

    def on_progress(done: int, total: int, phase: str) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(phase.replace("_", "-"), total=total)
        progress.update(tasks[phase], completed=done, total=total)

    try:
        with progress:
            result = measure_baseline(cfg, max_examples=args.max_examples, few_shot=args.few_shot,
                                      on_progress=on_progress)
    except RunError as exc:
        return fail(str(exc), ExitCode.ERROR)
    if args.json:
        data = result.to_dict()
        data.pop("examples")
        print(json.dumps(data, indent=2))
        return int(ExitCode.OK)
    print_baseline(result, Console())
    return int(ExitCode.OK)


def print_baseline(result, console) -> None:
    from rich.table import Table

    from ft_tui.core.decide import baseline_sentence
    from ft_tui.core.evaluate.metrics import METRIC_LABELS

    table = Table(title=f"Base model {result.model} · {result.n_examples} held-out examples · "
                        f"task: {result.task_kind}")
    table.add_column("metric")
    names = list(result.scores)
    for name in names:
        table.add_column(result.prompt_label(name), justify="right")
    for metric in result.scores[names[0]]:
        style = "bold" if metric == result.main_metric else None
        table.add_row(METRIC_LABELS.get(metric, metric) + (" (main)" if style else ""),
                      *(f"{result.scores[n][metric]:.3f}" for n in names), style=style)
    console.print(table)
    best, score = result.best
    console.print(baseline_sentence(METRIC_LABELS.get(result.main_metric, result.main_metric),
                                    score, result.prompt_label(best), result.n_examples),
                  highlight=False)
    if result.from_cache:
        console.print(f"[dim]{result.from_cache} answers came from the answer cache.[/]")

"""`ft-tui hw`: GPUs and memory, what each training method needs, and settings that fit.

    ft-tui hw                                   this machine, the default model
    ft-tui hw --model Qwen/Qwen2.5-7B-Instruct  a hub model (a known name plans without download)
    ft-tui hw --model llama-3.1-70b --gpu-memory 80 --gpus 2    what would I need to rent?
    ft-tui hw --data train.jsonl                max_length from your examples' token lengths
    ft-tui hw --json | jq .recommendation       one JSON object on stdout
    ft-tui hw --config run.yaml                 the estimates for the settings you will train with

Estimates are peak memory per training process (GPU memory, or RAM without a GPU) for
the run config (defaults, or --config) with --batch and --seq over it: the same numbers
the wizard's Hardware step and the multi-GPU launch planner use. The recommendation searches batch size and checkpointing itself.
Exit codes: 0 a method fits, 1 nothing fits (see the alternatives), 2 usage error
(unknown model, bad flag).
"""

from __future__ import annotations

import argparse
import json
import sys

from ft_tui.commands.common import ExitCode, fail, number_in

METHODS = ("full", "lora", "qlora")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("--config", metavar="CONFIG.yaml",
                        help="Estimate for this run config's settings (optimizer, precision, dtype, LoRA "
                             "rank...); the flags below override it")
    parser.add_argument("--model",
                        help="'default' (SmolLM2-135M), a folder, a .gguf file, a hub id, or a "
                             "common model's name such as llama-3.1-8b (default: the config's, "
                             "else 'default')")
    parser.add_argument("--seq", type=number_in(int, 32, 32768), metavar="N",
                        help="Tokens per example for the estimates; also fixes the recommended "
                             "max_length (default: from --data, else the config's data.max_length, 512)")
    parser.add_argument("--batch", type=number_in(int, 1, 1024), metavar="B",
                        help="Per-device batch for the estimates (default: the config's training.batch_size, 4)")
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="Estimate with gradient checkpointing on")
    parser.add_argument("--gpu-memory", type=number_in(float, 0, 100_000, exclusive=True), metavar="GB",
                        help="Plan for a GPU sold with this much memory (decimal GB: a '16 GB' T4 "
                             "is planned as 14.9 GiB) instead of this machine's")
    parser.add_argument("--gpus", type=number_in(int, 1, 1024), metavar="N",
                        help="Number of GPUs to plan for (default: all visible, or 1 with --gpu-memory)")
    parser.add_argument("--data", metavar="PATH",
                        help="Training data: its token lengths choose max_length (needs the model's "
                             "tokenizer on this machine)")
    from ft_tui.core.objectives import NAMES

    parser.add_argument("--method", choices=NAMES,
                        help="What the run learns from (default: the config's objective, sft): dpo "
                             "puts chosen and rejected through the model and adds a reference "
                             "pass; orpo the pairs without a reference")
    parser.add_argument("--output-dir", default=None,
                        help="Where runs go (default: the config's output_dir, runs): the "
                             "free-disk figure, and earlier runs whose measured speed the CPU "
                             "plan quotes")
    parser.add_argument("--json", action="store_true",
                        help="Print one JSON object on stdout (diagnostics go to stderr)")
    from ft_tui.commands.download import add_offline_flag

    add_offline_flag(parser)


def run(args) -> int:
    from ft_tui.core.plan.preflight import probe_machine
    from ft_tui.core.config.settings import ConfigError, RunConfig
    from ft_tui.core.plan.methods import check_methods
    from ft_tui.core.plan.model_profile import model_profile
    from ft_tui.core.models.resolve import ModelNotFound
    from ft_tui.core.plan.recommend import recommend

    try:
        cfg = RunConfig.load(args.config) if args.config else RunConfig()
        cfg = cfg.with_overrides({"model.name": args.model, "training.batch_size": args.batch,
                                  "objective": getattr(args, "method", None)})
    except ConfigError as exc:
        return fail("; ".join(exc.problems), ExitCode.USAGE)
    args.model = cfg.model.name
    from ft_tui.commands.download import apply_offline

    apply_offline(args)
    failed = _fetch_hub_model(cfg, needs_files=bool(args.data))
    if failed is not None:
        return failed
    try:
        profile = model_profile(args.model)
    except ModelNotFound as exc:
        return fail(f"--model: {exc}", ExitCode.USAGE)
    stats = None
    if args.data:
        stats = _token_stats(args.model, args.data)
        if isinstance(stats, int):
            return stats
    from ft_tui.core.run.speed import measured_speed

    runs_dir = args.output_dir or cfg.output_dir
    hw = probe_machine(runs_dir)
    rec = recommend(hw, profile, token_stats=stats, gpu_memory_gb=args.gpu_memory,
                    n_gpus=args.gpus, max_length=args.seq, objective=cfg.objective,
                    measured=measured_speed(runs_dir, model=args.model, method="lora", device="cpu"))
    seq = args.seq or (rec.settings.get("data.max_length") if stats else None) or cfg.data.max_length
    cfg = cfg.with_overrides({"data.max_length": seq,
                              "training.gradient_checkpointing": args.gradient_checkpointing or None})
    checks = check_methods(cfg, profile, rec)
    result = {
        "gpus": [g.to_dict() for g in hw.gpus],
        "no_gpu_reason": hw.no_gpu_reason,
        "machine": {k: v for k, v in hw.to_dict().items() if k not in ("gpus", "no_gpu_reason")},
        "model": profile.to_dict(),
        "plan": {"objective": cfg.objective, "device": rec.device, "capacity_gb": rec.capacity_gb, "capacity_label": rec.capacity_label,
                 "batch": cfg.training.batch_size, "seq": seq,
                 "gradient_checkpointing": cfg.training.gradient_checkpointing,
                 "token_stats": stats},
        "estimates": {m: c.to_dict() for m, c in checks.items()},
        "recommendation": rec.to_dict(),
    }
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        render(result)
    return int(ExitCode.OK if rec.fits else ExitCode.ERROR)


def _fetch_hub_model(cfg, needs_files: bool):
    """A hub id that is not cached is downloaded first, visibly, unless ft-tui's table of
    known models can plan for it without the files (then nothing is fetched, so `hw --model
    meta-llama/Llama-3.1-70B` stays instant). Returns an exit code after a failure, else None."""
    from ft_tui.commands.download import fetch_or_fail
    from ft_tui.core.models.resolve import ModelNotFound, resolve_model
    from ft_tui.core.plan.model_profile import known_model

    try:
        resolved = resolve_model(cfg.model.name)
    except ModelNotFound:
        return None   # model_profile says what is wrong
    if resolved.kind != "hub" or resolved.path is not None or (known_model(cfg.model.name) and not needs_files):
        return None
    return fetch_or_fail(cfg, "--model")[1]


def _token_stats(model: str, data: str):
    """Token-length statistics of ``data`` with the model's tokenizer, or an exit code."""
    from pathlib import Path

    from ft_tui.core.models.resolve import ModelNotFound, load_tokenizer, prepare_model, resolve_model
    from ft_tui.core.paths import resolve_data_path

    path = Path(resolve_data_path(data))
    if not path.is_file():
        return fail(f"--data {data}: no such file", ExitCode.USAGE)
    try:
        resolved = resolve_model(model)
        if resolved.kind == "hub" and resolved.path is None:
            raise ModelNotFound(f"{model} is not on this machine")
        tokenizer = load_tokenizer(prepare_model(model, log=lambda m: print(m, file=sys.stderr)))
    except ModelNotFound as exc:
        return fail(f"--data needs the model's tokenizer: {exc}. Pass --seq N instead.", ExitCode.USAGE)
    except (OSError, ValueError) as exc:
        return fail(f"--model {model}: cannot load its tokenizer ({exc}); pass --seq N instead",
                    ExitCode.USAGE, debug_exc=exc)
    from ft_tui.core.data import inspect_path

    tokens = inspect_path(path, tokenizer=tokenizer).to_dict().get("tokens") or {}
    if not tokens.get("max"):
        return fail(f"--data {data}: no usable example to measure (run `ft-tui inspect {data}`)",
                    ExitCode.ERROR)
    return {k: tokens.get(k) for k in ("min", "median", "p95", "max")}


# ----- the readable report ----------------------------------------------------------------

def render(result: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(highlight=False)
    machine, plan, rec = result["machine"], result["plan"], result["recommendation"]
    if result["gpus"]:
        table = Table(title="GPUs", title_justify="left")
        for column in ("#", "name", "used / total", "free", "util", "temp", "power", "compute"):
            table.add_column(column, justify="left" if column == "name" else "right")
        for g in result["gpus"]:
            bf16 = " bf16" if g["bf16_supported"] else " no bf16"
            table.add_row(str(g["index"]), g["name"].removeprefix("NVIDIA "),
                          f"{g['used_gb']:.1f} / {g['total_gb']:.1f} GiB", f"{g['free_gb']:.1f} GiB",
                          _opt(g["utilization_pct"], "%"), _opt(g["temperature_c"], "°C"),
                          _opt(g["power_w"], " W"), f"{g['compute_capability'] or '?'}{bf16}")
        console.print(table)
        first = result["gpus"][0]
        console.print(f"Driver {first['driver_version'] or '?'}, CUDA {first['cuda_version'] or '?'}")
    else:
        console.print(f"[bold]No GPU[/bold]: {result['no_gpu_reason']}")
    disk = machine.get("disk_free_gb")
    console.print(f"CPU {machine['cpu_cores']} cores · RAM {machine['ram_available_gb']:.1f} GiB free of "
                  f"{machine['ram_total_gb']:.1f} GiB · disk {'?' if disk is None else f'{disk:.0f} GiB'} "
                  f"free at {machine['disk_path']}")

    m = result["model"]
    console.print(f"\n[bold]{m['name']}[/bold]: {m['size']} parameters, {m['layers']} layers, hidden "
                  f"{m['hidden']}, {m['heads']} heads ({m['kv_heads']} KV), intermediate "
                  f"{m['intermediate']}, vocab {m['vocab']:,}"
                  f"{', tied embeddings' if m['tied_embeddings'] else ''}"
                  f"\n[dim]from {m['source']}[/dim]")

    where = "RAM" if plan["device"] == "cpu" else "GPU memory"
    objective = plan.get("objective", "sft")
    what = f" for {objective.upper()}" if objective != "sft" else ""
    console.print(f"\n[bold]Peak {where} per method{what}[/bold] (batch {plan['batch']}, seq {plan['seq']}, "
                  f"checkpointing {'on' if plan['gradient_checkpointing'] else 'off'}) against "
                  f"{_gb(plan['capacity_gb'])}: {plan['capacity_label']}\n[dim]At these settings; the "
                  "recommendation below searches batch size and checkpointing itself.[/dim]")
    estimates = result["estimates"]
    table = Table(show_edge=False)
    table.add_column("part")
    for method in METHODS:
        table.add_column(method, justify="right")
    names: list[str] = []
    for e in estimates.values():
        names.extend(n for n in e["components"] if n not in names)
    for name in names:
        values = [estimates[mth]["components"].get(name, 0.0) for mth in METHODS]
        if any(v >= 0.005 for v in values):
            table.add_row(name, *(_gb(v) if v >= 0.005 else "·" for v in values))
    table.add_row("[bold]total[/bold]",
                  *(f"[bold]{_gb(estimates[mth]['total_gb'])}[/bold]" for mth in METHODS))
    table.add_row("fits", *(_fits_cell(estimates[mth]) for mth in METHODS))
    table.add_row("fits at", *(_fits_at_cell(estimates[mth]) for mth in METHODS))
    console.print(table)
    for method in METHODS:
        if estimates[method].get("blocked"):
            console.print(f"  [red]✗[/red] {method}: {estimates[method]['blocked']}")
        if estimates[method].get("note"):
            console.print(f"  [dim]· {estimates[method]['note']}[/dim]")

    if rec["method"]:
        console.print(f"\n[bold green]Recommended: {rec['method']}[/bold green]")
        settings = Table(show_edge=False, box=None, show_header=False)
        settings.add_column("key", style="dim")
        settings.add_column("value")
        for key, value in rec["settings"].items():
            settings.add_row(key, str(value))
        console.print(settings)
    else:
        console.print("\n[bold red]Nothing fits[/bold red]")
    for reason in rec["reasons"]:
        console.print(f"  • {reason}")
    if rec["alternatives"]:
        console.print("\n[bold]What would fit[/bold]")
        for alternative in rec["alternatives"]:
            console.print(f"  → {alternative}")


def _fits_cell(check: dict) -> str:
    if check.get("blocked"):
        return "[red]not here[/red]"
    return "[green]yes[/green]" if check["fits"] else "[red]no[/red]"


def _fits_at_cell(check: dict) -> str:
    """The first batch size (and checkpointing) of the recommender's search that fits."""
    at = check.get("fits_at")
    if check.get("blocked") or at is None:
        return "–"
    return f"batch {at['batch']}{' + ckpt' if at['gradient_checkpointing'] else ''}"


def _gb(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:.1f} GiB" if value >= 0.1 else f"{value * 1024:.0f} MB"


def _opt(value, unit: str) -> str:
    return "?" if value is None else f"{value:.0f}{unit}"

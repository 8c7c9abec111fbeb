"""`ft-tui train`: headless training into a run directory.

    ft-tui train                                   default model on the bundled sample data
    ft-tui train run.yaml --max-steps 50           a config file, one setting overridden
    ft-tui train --model ./my-model --data train.jsonl --method lora
    ft-tui train --set lora.r=8 --set training.seed=7    any setting, by its dotted name
    ft-tui train --help-config                     every setting with its help and range
    ft-tui train run.yaml --dry-run [--json]       what the run would do here: device, GPUs torch
                                                   will use, precision and why, attention, memory
                                                   against free memory (loads nothing)
    ft-tui train --method dpo --data sample_data/preference/train.jsonl
                                                   preference tuning (DPO) with a LoRA adapter
    ft-tui train --method dpo --adapter qlora --init-adapter runs/lora-...   SFT first, then DPO
    ft-tui train --resume runs/lora-SmolLM2-...    continue after a stop, crash or kill -9
    ft-tui train --detach                          train in the background; prints how to follow it
    ft-tui train --resume runs/lora-... --data moved/train.jsonl
                                                   its data file moved: the same bytes (sha256
                                                   in the run's data_hashes.json) are required

Flags (and --set) override the YAML, which overrides the defaults. Ctrl+C stops
gracefully (a checkpoint first), and so does SIGTERM (timeout, docker stop, systemd); a second one
aborts. When the terminal goes away (SIGHUP: a dropped SSH connection, a closed window)
training goes on, its output to the run's train.log from then on. A run directory is used by one process at a time: a second `train --resume` of
the same run exits at once (code 2) naming the process that has it. Exit status: 0 done,
1 failed, 2 usage or config error, 130 stopped.
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager

from ft_tui.commands.common import ExitCode, fail
from ft_tui.commands.train_background import detach, hangup_goes_on, prepare_cluster
from ft_tui.core.objectives import NAMES as OBJECTIVE_NAMES

OVERRIDES = {  # flag dest -> RunConfig key
    "model": "model.name", "data": "data.train_path", "eval_data": "data.eval_path",
    "method": "method", "max_steps": "training.max_steps", "epochs": "training.epochs",
    "lr": "training.learning_rate", "batch_size": "training.batch_size",
    "output_dir": "output_dir", "run_name": "run_name", "adapter": "method",
    "beta": "preference.beta", "init_adapter": "preference.init_adapter",
}
# Flags --resume takes: where the run's data files are now (checked to be the same data).
RESUME_MOVES = {"data": "data.train_path", "eval_data": "data.eval_path"}
OBJECTIVE_METHODS = OBJECTIVE_NAMES   # --method dpo sets the objective, not the adapter
EXIT_FOR_STATE = {"done": ExitCode.OK, "failed": ExitCode.ERROR, "stopped": ExitCode.INTERRUPTED}


def add_arguments(parser) -> None:
    parser.add_argument("config", nargs="?", metavar="CONFIG.yaml", help="run config (default: built-in defaults)")
    parser.add_argument("--model", help="'default', a model folder, a .gguf file or a Hugging Face "
                                        "hub id (org/name; downloaded first, with progress)")
    parser.add_argument("--data", metavar="PATH", help="training data file")
    parser.add_argument("--eval-data", metavar="PATH", help="held-out data file (default: split off the training data)")
    parser.add_argument("--method", choices=("lora", "qlora", "full", *OBJECTIVE_METHODS),
                        help="lora/qlora/full: how weights are trained; sft/dpo/kto/orpo: what "
                             "from (dpo, orpo: pairs of a chosen and a rejected answer)")
    parser.add_argument("--adapter", choices=("lora", "qlora", "full"),
                        help="with --method dpo/kto/orpo: adapter or full fine-tuning (default lora)")
    parser.add_argument("--beta", type=float, help="DPO/KTO: how close to stay to the reference; "
                                                   "ORPO: weight of the odds-ratio term")
    parser.add_argument("--init-adapter", metavar="RUN_DIR",
                        help="DPO/KTO/ORPO: start from this SFT run's adapter")
    parser.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimizer steps")
    parser.add_argument("--epochs", type=float, metavar="E")
    parser.add_argument("--lr", type=float, metavar="LR", help="peak learning rate")
    parser.add_argument("--batch-size", type=int, metavar="B", help="examples per device per step")
    parser.add_argument("--output-dir", metavar="DIR", help="folder that gets the run directory")
    parser.add_argument("--run-name", metavar="NAME", help="name of the run directory")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set_values",
                        help="set any config field by its dotted name, e.g. --set lora.r=8 "
                             "(repeatable; see --help-config)")
    parser.add_argument("--help-config", action="store_true",
                        help="list every config field with its default, range and help, then exit")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    parser.add_argument("--num-processes", type=int, metavar="N",
                        help="train with N processes through accelerate (default: one per GPU)")
    parser.add_argument("--cpu", action="store_true", help="train on CPU even when GPUs are visible")
    parser.add_argument("--cluster", type=int, metavar="N",
                        help="prepare the run directory for N machines and write RUN_DIR/export/cluster/ "
                             "(accelerate config, per-node launch script, Slurm job, preflight); "
                             "trains nothing here")
    parser.add_argument("--dry-run", action="store_true",
                        help="load nothing: say what the run would do on this machine (device, GPUs "
                             "torch will use, precision and why, attention, memory against free "
                             "memory) and exit 0 if it can start, 1 if not")
    parser.add_argument("--json", action="store_true", help="with --dry-run: one JSON object on stdout")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="never ask; go ahead with the settings as given (for scripts)")
    parser.add_argument("--detach", action="store_true",
                        help="train in the background, in its own session (a closed terminal "
                             "does not stop it); prints how to follow and stop it")
    _add_hub_arguments(parser)


def run(args) -> int:
    from ft_tui.core.config.settings import ConfigError
    from ft_tui.core.run.rundir import RunDirError
    from ft_tui.core.errors import SetupError

    if args.help_config:
        print(help_config())
        return int(ExitCode.OK)
    if args.cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch is imported
    _apply_hub_arguments(args)
    if args.num_processes is not None and args.num_processes < 1:
        return fail("--num-processes: must be 1 or more", ExitCode.USAGE)
    try:
        cfg, resume_dir = _config(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"ft-tui: {problem}", file=sys.stderr)
        return int(ExitCode.USAGE)
    except (RunDirError, SetupError) as exc:
        return fail(str(exc), ExitCode.USAGE)

    if not args.dry_run:   # a dry run loads nothing, so it downloads nothing either
        cfg, failed = _fetch_hub_model(cfg)
        if failed is not None:
            return failed

    if args.cluster is not None:
        return prepare_cluster(cfg, resume_dir, args.cluster)

    checked = _preflight(cfg, args)
    if checked is not None:
        return checked

    from ft_tui.core.run.lock import RunInUse
    from ft_tui.core.plan.device import detect_device

    device = detect_device()
    warned_qlora = False
    if cfg.method == "qlora" and not device.cuda:
        cfg, warned_qlora = _offer_lora(cfg, args, resume_dir is not None)

    if args.detach:
        moved = {key: getattr(args, dest) for dest, key in RESUME_MOVES.items()
                 if resume_dir is not None and getattr(args, dest)}
        return detach(cfg, resume_dir, args, moved)
    display = TrainDisplay(skip_codes={"qlora_on_cpu"} if warned_qlora else set())
    try:
        finished, run_dir = _run(cfg, resume_dir, args, device, display)
    except (RunInUse, SetupError, RunDirError, ConfigError) as exc:   # before any training: a usage problem
        return fail(str(exc), ExitCode.USAGE)
    return _report(finished, run_dir)


# ----- configuration ---------------------------------------------------------------------

def _config(args):
    """(RunConfig, run dir to resume or None). Raises ConfigError / RunDirError / SetupError."""
    from ft_tui.core.config.settings import ConfigError, RunConfig
    from ft_tui.core.run.rundir import RunDir

    overrides = {key: getattr(args, dest) for dest, key in OVERRIDES.items()
                 if getattr(args, dest) is not None}
    if args.method in OBJECTIVE_METHODS:
        overrides["objective"] = args.method
        overrides["method"] = args.adapter
    elif args.method and args.adapter and args.adapter != args.method:
        raise ConfigError([f"--method {args.method} and --adapter {args.adapter} disagree; give one"])
    overrides.update(parse_set_values(args.set_values))
    if args.resume:
        extra = ["CONFIG.yaml"] * bool(args.config) + [f"--{d.replace('_', '-')}" for d in OVERRIDES
                                                        if getattr(args, d) is not None
                                                        and d not in RESUME_MOVES]
        extra += ["--set"] * bool(args.set_values)
        if extra:
            raise ConfigError([f"--resume continues a run with its own config.yaml; drop "
                               f"{', '.join(extra)} (--data / --eval-data name where its data "
                               "files are now)"])
        run_dir = RunDir.open(args.resume)
        return run_dir.load_config(), run_dir
    cfg = RunConfig.load(args.config) if args.config else RunConfig()
    if args.model and args.model != cfg.model.name and "model.revision" not in overrides:
        overrides["model.revision"] = ""   # the YAML's pinned commit belongs to its own model
    cfg = cfg.with_overrides(overrides)
    cfg = _qlora_checkpointing_by_default(cfg, args, overrides)
    cfg = _preference_sample_by_default(cfg)
    _check_inputs_exist(cfg)
    _check_data_fits(cfg)
    return cfg, None


def _qlora_checkpointing_by_default(cfg, args, overrides: dict):
    """QLoRA is chosen for a card too small for LoRA, so gradient checkpointing comes with it
    (the QLoRA recipe, and PEFT's own default): when --method/--adapter qlora asks for it, or
    the YAML names QLoRA without a word on checkpointing. ``--set
    training.gradient_checkpointing=false`` keeps it off."""
    key = "training.gradient_checkpointing"
    if cfg.method != "qlora" or cfg.training.gradient_checkpointing or key in overrides:
        return cfg
    if overrides.get("method") != "qlora" and args.config and _yaml_sets(args.config, key):
        return cfg
    return cfg.with_overrides({key: True})


def _yaml_sets(path, dotted: str) -> bool:
    import yaml

    try:
        data = yaml.safe_load(open(path, encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return True   # RunConfig.load read it; leave its value alone
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _preflight(cfg, args):
    """--dry-run: print the preflight and exit. Otherwise refuse, before any loading, a run
    that cannot start here (torch cannot use the GPU NVML sees; the estimate does not fit).
    None: go on."""
    import json

    from ft_tui.core.errors import SetupError
    from ft_tui.core.plan.preflight import check_can_start, preflight

    if not args.dry_run:   # warnings (packing off, QLoRA on a CPU) come from the run itself
        try:
            check_can_start(cfg, force_cpu=args.cpu)
        except SetupError as exc:
            return fail(str(exc), ExitCode.USAGE)
        return None
    pf = preflight(cfg, force_cpu=args.cpu)
    if args.json:
        json.dump(pf.to_dict(), sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(pf.text())
    return int(ExitCode.OK if pf.ok else ExitCode.ERROR)


def _preference_sample_by_default(cfg):
    """`--method dpo` (or orpo) with no data given trains on the bundled preference set, as
    plain `ft-tui train` trains on the bundled SFT set."""
    from ft_tui.core.config.settings import DataConfig
    from ft_tui.core.objectives import objective_of

    if "preference" in objective_of(cfg).formats and cfg.data.train_path == DataConfig().train_path:
        return cfg.with_overrides({"data.train_path": "sample_data/preference/train.jsonl",
                                   "data.eval_path": cfg.data.eval_path or "sample_data/preference/eval.jsonl"})
    return cfg


def _check_data_fits(cfg) -> None:
    """A pair file given to SFT, or an SFT file to DPO: one message, before any run dir."""
    from ft_tui.core.objectives import check_data_fits

    check_data_fits(cfg)


def parse_set_values(items: list[str]) -> dict:
    """``--set key=value`` pairs -> {dotted key: typed value}. Raises ConfigError naming
    every unknown key (with the closest known one) and every value of the wrong type."""
    import difflib

    from ft_tui.core.config.settings import ConfigError, coerce, iter_fields

    infos = {info.key: info for info in iter_fields()}
    out: dict = {}
    problems: list[str] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"--set {item!r}: expected KEY=VALUE, e.g. --set lora.r=8")
            continue
        if key not in infos:
            # Match the setting's own name too: 'training.lora_r' means 'lora.r', not the
            # nearest full key ('training.learning_rate').
            leaf = key.rsplit(".", 1)[-1]
            close = ([k for k in infos if k.replace(".", "_") in (leaf, f"{k.split('.')[0]}_{leaf}")
                      or k.endswith("." + leaf)]
                     or difflib.get_close_matches(key, list(infos), n=1))
            hint = f" (did you mean '{close[0]}'?)" if close else " (see ft-tui train --help-config)"
            problems.append(f"--set {key}: unknown setting{hint}")
            continue
        try:
            out[key] = coerce(infos[key], raw)
        except ValueError as exc:
            problems.append(f"--set {exc}")
    if problems:
        raise ConfigError(problems)
    return out


def help_config() -> str:
    """Every RunConfig field: dotted name, type, default, allowed values, help."""
    from ft_tui.core.config.settings import iter_fields

    lines = ["Config fields (YAML nesting or --set KEY=VALUE):", ""]
    for info in iter_fields():
        if info.choices:
            allowed = "one of " + ", ".join(map(str, info.choices))
        elif info.min is not None or info.max is not None:
            lo = "" if info.min is None else f"{info.min:g}"
            hi = "" if info.max is None else f"{info.max:g}"
            allowed = f"{lo}..{hi}"
        else:
            allowed = "true/false" if info.type is bool else "text" if info.type is str else ""
        lines.append(f"  {info.key}  ({info.type.__name__}, default {info.default!r}; {allowed})")
        lines.append(f"      {info.help}")
    return "\n".join(lines)


def _check_inputs_exist(cfg) -> None:
    """A missing file or model, an output folder that cannot be written: usage errors, said
    before creating a run directory."""
    from ft_tui.core.paths import resolve_data_path
    from ft_tui.core.run.rundir import check_writable_folder
    from ft_tui.core.errors import SetupError
    from ft_tui.core.training.session import check_model

    for key, flag, value in (("data.train_path", "--data", cfg.data.train_path),
                             ("data.eval_path", "--eval-data", cfg.data.eval_path)):
        if value.strip() and not resolve_data_path(value).is_file():
            raise SetupError(f"{key}: {value!r} is not a file; pass {flag} PATH or fix it in the config")
    check_model(cfg)
    check_writable_folder(cfg.output_dir, "output_dir")


def _offer_lora(cfg, args, resuming: bool):
    """QLoRA without CUDA: say it is slow; on a terminal, offer LoRA instead."""
    from ft_tui.core.training.runner import qlora_on_cpu_message

    print(f"ft-tui: warning: {qlora_on_cpu_message()}.", file=sys.stderr)
    if resuming or args.yes or not sys.stdin.isatty():
        return cfg, True
    try:
        answer = input("Switch to LoRA for this run? [Y/n] ").strip().lower()
    except EOFError:
        answer = "n"
    if answer in ("", "y", "yes"):
        return cfg.with_overrides({"method": "lora"}), False
    return cfg, True


# ----- a model from the Hugging Face Hub ---------------------------------------------------

def _add_hub_arguments(parser) -> None:
    from ft_tui.commands.download import add_offline_flag

    add_offline_flag(parser)


def _apply_hub_arguments(args) -> None:
    from ft_tui.commands.download import apply_offline

    apply_offline(args)


def _fetch_hub_model(cfg):
    """A hub model is downloaded before the run starts, visibly (what it is, then bytes, speed
    and ETA), and a new run records the commit it trains on in model.revision, so --resume,
    eval and export use the same weights. A resumed run's pinned commit, complete in the
    cache, is used without network. Returns (cfg, exit code or None)."""
    from ft_tui.commands.download import fetch_or_fail

    return fetch_or_fail(cfg)


# ----- the run: here or in launched workers (core/training/session.py decides) ------------

def _run(cfg, resume_dir, args, device, display):
    from ft_tui.core.training.session import start_run

    target = []   # the session, once it exists; a signal before that stops it at once

    def stop():
        if target:
            target[0].request_stop()

    def abort():
        if target and target[0].distributed:
            display.note("Aborting the worker processes...")
            target[0].abort()
        else:
            raise KeyboardInterrupt

    with _ctrl_c_stops(display, stop, abort) as asked, hangup_goes_on(display, target):
        moved = {key: getattr(args, dest) for dest, key in RESUME_MOVES.items()
                 if resume_dir is not None and getattr(args, dest)}
        session = start_run(cfg, resume=resume_dir.path if resume_dir is not None else None,
                            on_event=display.handle, num_processes=args.num_processes,
                            force_cpu=args.cpu, device=device, moved_data=moved)
        target.append(session)
        if asked():
            session.request_stop()
        print(f"Run directory: {session.run_dir.path}", flush=True)
        for key, value in moved.items():
            from ft_tui.core.paths import resolve_data_path, shown_path

            display.note(f"{key}: now {shown_path(resolve_data_path(value))}, the same data the "
                         "run started on (sha256 checked)")
        if session.distributed:
            plan = session.plan
            display.note(f"Launching {plan.num_processes} processes ({plan.strategy}): {plan.reason}. "
                         f"Worker output: {session.run_dir.path / 'worker.log'}")
        with display:
            finished = session.run(display.handle)
    return finished, session.run_dir


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)   # Ctrl+C; timeout, docker stop, systemd


@contextmanager
def _ctrl_c_stops(display, stop, abort):
    """The first Ctrl+C (or SIGTERM) stops gracefully, a checkpoint first; a second one
    aborts. Installed for the run's whole life, the previous handlers restored after.
    Yields a function that says whether a stop was asked."""
    presses = 0

    def on_signal(signum, frame):
        nonlocal presses
        presses += 1
        if presses == 1:
            stop()
            what = "Ctrl+C" if signum == signal.SIGINT else signal.Signals(signum).name
            display.note(f"{what}: stopping after this step; saving a checkpoint first "
                         "(Ctrl+C again aborts without one)...")
        else:
            abort()

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        yield lambda: presses > 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ----- outcome -----------------------------------------------------------------------------

def _report(finished, run_dir) -> int:
    from ft_tui.core.config.names import shell_quote

    path = run_dir.path
    if finished.state == "done":
        print(f"Done: {finished.message}")
        print(f"Run directory: {path}")
        print(f"Next: ft-tui eval {shell_quote(path)}")
    elif finished.state == "stopped":
        print(f"Stopped: {finished.message}")
        print(f"Run directory: {path}")
        if run_dir.latest_checkpoint() is not None:
            print(f"Resume: ft-tui train --resume {shell_quote(path)}")
    else:
        print(f"Run directory: {path}")
        fail(f"training failed: {finished.message}")
        if finished.advice:
            print(f"ft-tui: {finished.advice}", file=sys.stderr)
    return int(EXIT_FOR_STATE.get(finished.state, ExitCode.ERROR))


# ----- progress display --------------------------------------------------------------------

class TrainDisplay:
    """A rich progress bar (step/total, loss, tokens/s, ETA) fed by training events, on
    stderr; warnings and evaluations print above it. Without a terminal (CI logs) it
    prints a line every ~5 % of the steps instead."""

    def __init__(self, skip_codes: set[str] | None = None):
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        self.live = self.console.is_terminal
        # In a log file a line stays one line (rich would break it at 80 columns).
        self.console.soft_wrap = not self.live
        self.skip_codes = skip_codes or set()
        self.progress = None
        self.task = None
        self.total = 0

    def __enter__(self):
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.progress = Progress(
                TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[tps]} tok/s"),
                TextColumn("ETA {task.fields[eta]}"), console=self.console)
            self.task = self.progress.add_task("training", total=None, loss="-", tps="-", eta="-")
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()
        return False

    def note(self, text: str) -> None:
        self.console.print(text)

    def detach(self) -> None:
        """The terminal is gone: plain lines (to the log stderr now is) from here on. The
        live bar is stopped on another thread: this runs in a signal handler, which may
        have interrupted the main thread inside the bar's own lock."""
        import threading

        from rich.console import Console

        progress, self.progress = self.progress, None
        self.console = Console(stderr=True, highlight=False, no_color=True, soft_wrap=True,
                               force_terminal=False)
        self.live = False
        if progress is not None:
            threading.Thread(target=progress.stop, daemon=True).start()

    def handle(self, event) -> None:
        from ft_tui.core.run.events import Checkpoint, EvalLog, RunStarted, Samples, StepLog, TrainWarning

        if isinstance(event, StepLog):
            self._step(event)
        elif isinstance(event, RunStarted):
            self.total = event.total_steps
            where = f"resuming at step {event.start_step} of" if event.start_step else "training"
            self.note(f"{where} {event.total_steps} steps on {event.device}: {event.method}, "
                      f"{event.trainable_params:,} of {event.total_params:,} parameters trained")
            if self.progress is not None:
                self.progress.update(self.task, total=event.total_steps, completed=event.start_step)
        elif isinstance(event, EvalLog):
            self.note(f"step {event.step}: held-out loss {event.eval_loss:.4f}")
        elif isinstance(event, TrainWarning) and event.code not in self.skip_codes:
            self.note(f"[yellow]warning[/yellow] (step {event.step}): {event.message}")
        elif isinstance(event, Checkpoint):
            self.note(f"[dim]step {event.step}: checkpoint saved[/dim]")
        elif isinstance(event, Samples) and event.samples:
            first = event.samples[0]
            self.note(f"[dim]step {event.step} sample: {_short(first['prompt'])} -> "
                      f"{_short(first['output']) or '(empty)'}[/dim]")

    def _step(self, event) -> None:
        total = event.total_steps or self.total
        tps = f"{event.tokens_per_s:,.0f}" if event.tokens_per_s is not None else "-"
        eta = _duration(event.eta_s)
        if self.progress is not None:
            self.progress.update(self.task, completed=event.step, total=total or None,
                                 loss=f"{event.loss:.4f}", tps=tps, eta=eta)
            return
        every = max(1, total // 20) if total else 1
        if event.step % every == 0 or event.step in (1, total):
            from ft_tui.core.training.throughput import throughput_note

            self.note(f"step {event.step}/{total} loss {event.loss:.4f} {tps} tok/s"
                      f"{throughput_note(event)} ETA {eta}")


def _duration(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

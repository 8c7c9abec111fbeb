"""`ft-tui download`: fetch a Hugging Face Hub model into the Hugging Face cache, e.g.
before going offline or to carry the cache to an air-gapped box.

    ft-tui download Qwen/Qwen2.5-0.5B-Instruct          what it is, then the files a run needs
    ft-tui download meta-llama/Llama-3.1-8B-Instruct    gated: `hf auth login` or HF_TOKEN first
    ft-tui download ORG/NAME --info                     what it is and what would be fetched
    ft-tui download ORG/NAME --revision 1a2b3c...       one commit (or branch)

Only the files a run needs are fetched: safetensors weights (not duplicate .bin/.pth/.gguf),
config, tokenizer and chat template. Ctrl+C stops; running it again resumes the partial
files. Exit status: 0 ready, 1 failed (the message says why), 2 usage, 130 interrupted.

The same download, with the same progress line, runs first when `ft-tui train`, `hw`,
`baseline` or `eval` are given a hub id that is not in the cache.
"""

from __future__ import annotations

import os
import sys
import time

from ft_tui.commands.common import ExitCode, fail


def add_arguments(parser) -> None:
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("model", metavar="ORG/NAME", help="Hugging Face Hub model id")
    parser.add_argument("--revision", default="", help="commit sha or branch (default: main)")
    parser.add_argument("--info", action="store_true",
                        help="show what the model is and which files would be fetched; fetch nothing")
    add_offline_flag(parser)


def add_offline_flag(parser) -> None:
    parser.add_argument("--offline", action="store_true",
                        help="never contact the Hugging Face Hub; hub models must be in the cache "
                             "(the same as HF_HUB_OFFLINE=1)")


def apply_offline(args) -> None:
    """``--offline``: the user's own choice, for this process and the workers it starts."""
    if getattr(args, "offline", False):
        os.environ["HF_HUB_OFFLINE"] = "1"
        if "huggingface_hub.constants" in sys.modules:   # it read the environment at import
            sys.modules["huggingface_hub.constants"].HF_HUB_OFFLINE = True


def run(args) -> int:
    from ft_tui.core.models.hub import HubError, is_offline, model_info

    apply_offline(args)
    if args.model.count("/") != 1 or args.model.startswith((".", "/", "~")):
        return fail(f"{args.model!r}: give a hub id like 'org/name' (local folders and .gguf files "
                    "need no download)", ExitCode.USAGE)
    try:
        if args.info:
            if is_offline():
                return fail("--info asks the hub; drop --offline / HF_HUB_OFFLINE", ExitCode.USAGE)
            model = model_info(args.model, args.revision)
            print(model.summary())
            for name, size in sorted(model.files.items()):
                print(f"  fetch  {name}  {_bytes(size)}")
            for name in model.skipped:
                print(f"  skip   {name}")
            return int(ExitCode.OK)
        snap = download_visibly(args.model, args.revision)
    except HubError as exc:
        return fail(str(exc))
    print(f"Ready: {snap.path}")
    print(f"Commit: {snap.commit}")
    return int(ExitCode.OK)


def download_visibly(repo_id: str, revision: str = "", *, offline: bool = False):
    """``fetch_model`` with what the model is said first and a progress line on stderr; the
    one way the headless commands download. Ctrl+C keeps the partial files (the next call
    resumes them) and is re-raised for the command's own exit."""
    from ft_tui.core.models.hub import fetch_model

    printer = ProgressPrinter()
    try:
        snap = fetch_model(repo_id, revision, offline=offline, on_progress=printer,
                           log=lambda text: print(f"ft-tui: {text}", file=sys.stderr),
                           on_info=lambda model: print(model.summary(), file=sys.stderr))
    except KeyboardInterrupt:
        printer.close()
        print(f"ft-tui: download of {repo_id} interrupted; the partial files stay in the cache and "
              "the next run resumes them", file=sys.stderr)
        raise
    printer.close()
    return snap


def download_for(cfg) -> "object | None":
    """Before a command loads the run's model: a hub id is fetched visibly (a commit already
    complete in the cache returns at once). Returns the Snapshot, or None for other models.
    Raises HubError (a ModelNotFound)."""
    from ft_tui.core.models.resolve import resolve_model

    if resolve_model(cfg.model.name).kind != "hub":
        return None
    return download_visibly(cfg.model.name, cfg.model.revision, offline=cfg.model.offline)


def fetch_or_fail(cfg, label: str = "model.name"):
    """``download_for`` for a command: (cfg with the commit pinned, None) or (cfg, exit code)
    after one line, starting with ``label``, saying why the model cannot be had."""
    from ft_tui.core.models.resolve import ModelNotFound

    try:
        snap = download_for(cfg)
    except ModelNotFound as exc:
        return cfg, fail(f"{label}: {exc}", ExitCode.USAGE)
    if snap is None or cfg.model.revision == snap.commit:
        return cfg, None
    return cfg.with_overrides({"model.revision": snap.commit}), None


def run_config_or_none(run_dir):
    """A run directory's config, or None (the command itself then says what is wrong)."""
    try:
        from ft_tui.core.run.rundir import RunDir

        return RunDir.open(run_dir).load_config()
    except Exception:  # noqa: BLE001
        return None


class ProgressPrinter:
    """Download progress on stderr: one line rewritten in place on a terminal, a line every
    10 s (and at the end) in a log file."""

    def __init__(self, stream=None, interval: float | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval if interval is not None else (0.2 if self.tty else 10.0)
        self.last = 0.0
        self.shown = ""
        self.started = False

    def __call__(self, progress) -> None:
        from ft_tui.core.models.hub import hub_cache

        now = time.monotonic()
        if not progress.to_fetch:
            return   # everything was already in the cache: nothing to show
        if not self.started:
            self.started = True
            self._print(f"{progress.repo_id}: fetching {_bytes(progress.to_fetch)} of "
                        f"{_bytes(progress.total)} into {hub_cache()}", final=True)
        if not progress.finished and now - self.last < self.interval:
            return
        self.last = now
        self._print(progress.line(), final=progress.finished)

    def _print(self, line: str, final: bool) -> None:
        if self.tty:   # one screen line, or "\r" cannot rewrite it
            import shutil

            line = line[:max(20, shutil.get_terminal_size().columns - 1)]
            pad = " " * max(0, len(self.shown) - len(line))
            self.stream.write("\r" + line + pad + ("\n" if final else ""))
            self.shown = "" if final else line
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = ""


def _bytes(n: float) -> str:
    from ft_tui.core.models.hub import human_bytes

    return human_bytes(n)

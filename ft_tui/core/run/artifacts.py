"""Finding what a finished run produced, with one clear error when it is not there yet.
Shared by evaluation and export."""

from __future__ import annotations

import os
from pathlib import Path

from ft_tui.core.config.names import shell_quote
from ft_tui.core.run.rundir import RunDir, RunDirError


class RunError(RuntimeError):
    """A run cannot be evaluated or exported; the message says what is wrong and what to do."""


class NoRunDir(RunError):
    """The path is not a run directory."""


class NotTrained(RunError):
    """The run has no adapter or model yet."""


def open_run(run_dir: str | os.PathLike | RunDir) -> RunDir:
    if isinstance(run_dir, RunDir):
        return run_dir
    try:
        return RunDir.open(run_dir)
    except RunDirError as exc:
        raise NoRunDir(f"{exc}; pass the folder `ft-tui train` created (under runs/ by default)") from None


def is_peft_adapter(folder: str | os.PathLike) -> bool:
    return (Path(folder) / "adapter_config.json").is_file()


def trained_model_dir(run: RunDir) -> Path:
    """The run's ``adapter/`` folder: a PEFT adapter (lora/qlora) or a full model (full)."""
    folder = run.adapter_dir
    if is_peft_adapter(folder) or (folder / "config.json").is_file():
        return folder
    state = run.read_state()
    if state == "running":
        hint = "it is still training: wait for it to finish"
    elif state in ("stopped", "failed", "interrupted"):
        how = {"interrupted": "its process was killed (it is interrupted)"}.get(state, f"it {state}")
        hint = f"{how} before saving one: finish it with `ft-tui train --resume {shell_quote(run.path)}`"
    else:
        hint = f"train first: `ft-tui train {shell_quote(run.config_path)}`"
    raise NotTrained(f"{run.path}: no trained adapter yet (adapter/ is missing); {hint}")

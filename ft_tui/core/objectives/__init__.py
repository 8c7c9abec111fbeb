"""The training objectives, one module each behind one interface (``base.Objective``):
SFT (sft.py), DPO (dpo.py), KTO (kto.py) and ORPO (orpo.py).

This registry is the one place that knows them all: the rest of ft-tui asks
``objective_of(cfg)`` what to do (rows, trainer, evaluation, exported script) instead of
testing the objective's name. Adding an objective is one module plus one line here.
"""

from __future__ import annotations

from pathlib import Path

from ft_tui.core.errors import SetupError
from ft_tui.core.objectives.base import Objective
from ft_tui.core.objectives.dpo import DPO
from ft_tui.core.objectives.kto import KTO
from ft_tui.core.objectives.orpo import ORPO
from ft_tui.core.objectives.sft import SFT

REGISTRY: dict[str, Objective] = {o.name: o for o in (SFT(), DPO(), KTO(), ORPO())}
NAMES = tuple(REGISTRY)
DEFAULT = "sft"


def objective_of(cfg_or_name) -> Objective:
    """The objective of a RunConfig (its ``objective``) or of a name."""
    name = cfg_or_name if isinstance(cfg_or_name, str) else getattr(cfg_or_name, "objective", DEFAULT)
    try:
        return REGISTRY[name]
    except KeyError:
        raise SetupError(f"objective: {name!r} is not one of {', '.join(NAMES)}") from None


def objectives_for_format(fmt: str) -> list[Objective]:
    """The objectives that train on rows of data-engine format ``fmt`` (SFT for every
    format no other objective claims)."""
    claimed = [o for o in REGISTRY.values() if fmt in o.formats]
    return claimed or [o for o in REGISTRY.values() if not o.formats]


def preference_names() -> tuple[str, ...]:
    """The objectives scored by preference accuracy (for labels and checks)."""
    return tuple(o.name for o in REGISTRY.values() if o.evaluation == "pairs")


# ----- which objective a file is for ----------------------------------------------------

FORMAT_NAME = {"preference": "preference pairs (prompt, chosen, rejected)",
               "kto": "KTO rows (answers with a true/false label)"}


def file_format(path: str | Path) -> str:
    """The data-engine format of the first row it recognises; '' when none is (the loaders
    then report why, line by line)."""
    from ft_tui.core.data import ExampleStream

    stream = ExampleStream(path)
    try:
        for _item in stream:
            if stream.format is not None:
                break
    except OSError:
        return ""
    return stream.format or ""


def check_file_fits(path: str | Path, objective: str, key: str = "data.train_path") -> None:
    """SetupError naming the format found and the objectives that fit, when ``objective``
    does not train on it (a pair file given to SFT, an SFT file given to DPO)."""
    fmt = file_format(path)
    wanted = objective_of(objective)
    if not fmt:
        return
    fitting = objectives_for_format(fmt)
    if wanted in fitting:
        return
    why = ""
    if not wanted.formats:   # supervised fine-tuning on judged answers
        why = (" (supervised fine-tuning would learn the false answers as targets)" if fmt == "kto"
               else " (supervised fine-tuning cannot train on pairs)")
    methods = " or ".join(f"--method {o.name}" for o in fitting)
    raise SetupError(
        f"{key}: {path} holds {FORMAT_NAME.get(fmt, f'{fmt} examples')}, but this run trains "
        f"{wanted.label}, which needs {wanted.needs}{why}. Train this file with {methods}, or "
        f"pick a file of {wanted.needs}")


def check_data_fits(cfg) -> None:
    """:func:`check_file_fits` for the run's training file and its eval file, if any."""
    from ft_tui.core.paths import resolve_data_path

    for key, value in (("data.train_path", cfg.data.train_path),
                       ("data.eval_path", cfg.data.eval_path)):
        if value.strip():
            path = resolve_data_path(value)
            if path.is_file():
                check_file_fits(path, cfg.objective, key)


def load_training_data(cfg):
    """The run's TrainData, from its objective: the files checked (the right kind of data,
    every bad line named) and split, before any model loads."""
    check_data_fits(cfg)
    return objective_of(cfg).train_data(cfg)


def load_held_out(cfg) -> tuple[list, list]:
    """(training rows, held-out rows) its evaluation scores; SetupError when nothing was
    held out, never the rows it trained on."""
    check_data_fits(cfg)
    return objective_of(cfg).held_out(cfg)


def default_run_name(cfg) -> str:
    """``<what trains>-<model>-<time>``, e.g. ``lora-SmolLM2-135M-Instruct-20260101-120000``
    or ``dpo-lora-...``: the run folder's name when the config gives none."""
    import re
    import time

    from ft_tui.core.models.resolve import ModelNotFound, resolve_model

    try:
        model = resolve_model(cfg.model.name).display
    except ModelNotFound:
        model = Path(cfg.model.name).name or "model"
    model = re.sub(r"[^A-Za-z0-9._-]+", "-", model)[:40]
    prefix = objective_of(cfg).method_label(cfg).replace(" ", "-")
    return f"{prefix}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"


__all__ = ["default_run_name", "Objective", "REGISTRY", "NAMES", "objective_of", "objectives_for_format",
           "check_file_fits", "check_data_fits", "load_training_data", "load_held_out",
           "preference_names"]

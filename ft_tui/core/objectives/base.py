"""What one training objective decides, behind one small interface.

Each objective (``sft.py``, ``dpo.py``, ``kto.py``, ``orpo.py``) is one ``Objective``
subclass, registered in ``objectives/__init__.py``; the rest of ft-tui asks the registry
instead of testing the objective's name:

- **rows**: which data-engine formats it trains on (``formats``), how a file's checked rows
  become the trainer's rows (``train_data``), and the held-out rows evaluation scores
  (``held_out``), both through the one split (``split.py``);
- **trainer**: the model it starts from (``prepare``), its TRL config (``build_config``,
  from ``trainer_kwargs``, the plain-value map the exported script embeds too) and trainer
  (``make_trainer``);
- **metrics and verdict**: which evaluator scores it (``evaluation``: ``"answers"``, answers
  generated and scored against references; ``"pairs"``, preference accuracy on held-out
  pairs, with its verdict). What its trainer logs (loss; the preference trainers' reward
  margins and accuracies) reaches the dashboard through core/training/callbacks.py;
- **exported script**: ``script``, ``"tokenized"`` (the SFT script over pre-tokenised rows)
  or ``"rows"`` (the preference script over conversational rows), and ``trl_import``.

Heavy libraries are imported inside the methods, so the registry costs nothing to import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ft_tui.core.errors import SetupError
from ft_tui.core.paths import resolve_data_path

MAX_REPORTED = 5
SAMPLE_PROMPTS = 3


class BadRows(SetupError):
    """Rows the data engine could not use, each with its line (``issues``)."""

    def __init__(self, message: str, issues: list):
        super().__init__(message)
        self.issues = issues


def load_rows(path_text: str | Path, key: str = "data.train_path") -> list:
    """A data file's checked examples; BadRows lists every bad line (chosen == rejected, an
    empty answer, a tool call to an undefined tool, ...): nothing is dropped silently."""
    from ft_tui.core.data import load_examples

    path = resolve_data_path(path_text)
    if not path.is_file():
        raise SetupError(f"{key}: {str(path_text)!r} is not a file; pass --data PATH or fix "
                         f"{key} in the config")
    result = load_examples(path)
    issues = list(result.errors)
    if issues:
        shown = "; ".join(str(i) for i in issues[:MAX_REPORTED])
        more = f" (and {len(issues) - MAX_REPORTED} more)" if len(issues) > MAX_REPORTED else ""
        raise BadRows(f"{path}: {len(issues)} bad row(s): {shown}{more}. Fix or remove those "
                      f"lines (`ft-tui inspect {path}` lists them all and writes a cleaned copy)",
                      issues)
    if not result.examples:
        raise SetupError(f"{path}: no examples found; `ft-tui inspect {path}` shows the formats "
                         "ft-tui reads")
    return list(result.examples)


class Objective:
    name: str = ""            # the config's ``objective`` and the ``--method`` choice
    label: str = ""           # as messages write it
    formats: tuple[str, ...] = ()   # data-engine formats it trains on; () = any unclaimed one
    needs: str = ""           # what its rows hold, for messages
    evaluation: str = "answers"     # "answers" | "pairs"
    script: str = "tokenized"       # "tokenized" | "rows"
    trl_import: str = ""      # the TRL import line of its config and trainer
    config_class: str = ""
    trainer_class: str = ""
    reference: bool = False   # compares the policy with a reference model

    # ----- rows ------------------------------------------------------------------------
    def train_data(self, cfg):
        """TrainData for a run: the checked rows, held out by the one split, in the shape the
        trainer takes. SetupError names every bad line, before any model loads."""
        raise NotImplementedError

    def held_out(self, cfg) -> tuple[list, list]:
        """(training rows, held-out rows) an evaluation uses; SetupError when nothing was
        held out (never the rows the run trained on)."""
        from ft_tui.core.objectives.split import held_out_for_eval

        return held_out_for_eval(cfg, load_rows)

    # ----- trainer ---------------------------------------------------------------------
    def trainer_kwargs(self, cfg, *, has_eval: bool, completion_only: bool = True) -> dict[str, Any]:
        """Its TRL config's arguments that follow from the config alone (plain values): the
        trainer and the exported script both use this map."""
        raise NotImplementedError

    def prepare(self, cfg, data, precision, device, log: Callable[[str], None],
                note: Callable[[str], None]):
        """(model, tokenizer, peft_config or None), ready for ``make_trainer``; ``note``
        tells the user something about their data (rows left out, turns not trained)."""
        raise NotImplementedError

    def build_config(self, cfg, checkpoints_dir: Path, precision, device, *, has_eval: bool,
                     data, world_size: int = 1):
        raise NotImplementedError

    def make_trainer(self, model, tokenizer, args, data, callback, cfg, peft_config):
        raise NotImplementedError

    def before_save(self, trainer) -> None:
        """Anything to drop from the trained model before the final save."""

    def method_label(self, cfg) -> str:
        """How the run's start event names what trains, e.g. 'dpo lora'."""
        return f"{self.name} {cfg.method}"

"""The one held-out split, for every objective.

Training and evaluation both ask this module which rows are held out: the rows of
``data.eval_path`` when one is set, else the seeded ``data.eval_fraction`` split of the
training file (``ft_tui.core.data.split_examples``). With neither, nothing is held out:
training uses every row, and evaluation refuses rather than score rows the model trained on.
"""

from __future__ import annotations

from typing import Callable

from ft_tui.core.errors import SetupError
from ft_tui.core.paths import resolve_data_path

# load(path_text, config key) -> the file's checked rows
Loader = Callable[[str, str], list]

NO_HELD_OUT = ("no held-out examples to evaluate on: data.eval_path is empty and "
               "data.eval_fraction is 0, so the run trained on every example and scoring any of "
               "them would measure memory, not skill. Set data.eval_path in the run's config.yaml "
               "to a file of examples it did not train on, or train again with "
               "data.eval_fraction above 0 (e.g. 0.1)")


def split_held_out(cfg, load: Loader) -> tuple[list, list]:
    """(training rows, held-out rows) as the run trains and evaluates with them."""
    from ft_tui.core.data import split_examples

    train = load(cfg.data.train_path, "data.train_path")
    if cfg.data.eval_path.strip():
        held_out = load(cfg.data.eval_path, "data.eval_path")
    else:
        # eval_fraction 0 holds nothing out (split_examples returns every row as training)
        train, held_out = split_examples(train, cfg.data.eval_fraction, cfg.training.seed)
    if not train:
        raise SetupError(f"{resolve_data_path(cfg.data.train_path)}: no training examples left "
                         f"after holding out {cfg.data.eval_fraction:.0%}; add data or lower "
                         "data.eval_fraction")
    return list(train), list(held_out)


def held_out_for_eval(cfg, load: Loader) -> tuple[list, list]:
    """:func:`split_held_out`, refusing when nothing is held out (never the training rows)."""
    train, held_out = split_held_out(cfg, load)
    if not held_out:
        raise SetupError(NO_HELD_OUT)
    return train, held_out

"""Odds-ratio preference optimisation (Hong et al. 2024, arXiv:2403.07691): learn from pairs
like DPO, in one stage, with no reference model: the loss is the chosen answer's language-
modelling loss plus beta (the paper's lambda) times a log-odds-ratio term that pushes the
chosen answer's odds above the rejected one's. So it needs neither a reference forward pass
nor a frozen copy of the model, and uses less memory than DPO.

TRL 1.16 keeps ORPOTrainer in ``trl.experimental.orpo`` (trl/experimental/orpo/
orpo_trainer.py); it logs the same ``rewards/margins`` and ``rewards/accuracies`` as DPO
(its rewards are beta times the answers' mean log-probabilities), so the dashboard shows
the same signals.
"""

from __future__ import annotations

import warnings
from typing import Any

from ft_tui.core.objectives.preference import PreferenceObjective


class ORPO(PreferenceObjective):
    name = "orpo"
    label = "ORPO"
    formats = ("preference",)
    needs = "pairs of a chosen and a rejected answer (prompt, chosen, rejected)"
    trl_import = "from trl.experimental.orpo import ORPOConfig, ORPOTrainer"
    config_class, trainer_class = "ORPOConfig", "ORPOTrainer"
    reference = False

    def own_kwargs(self, cfg) -> dict[str, Any]:
        return {}   # beta and max_length are every preference objective's

    def trl_classes(self):
        with warnings.catch_warnings():   # "experimental": said once in the docs instead
            warnings.simplefilter("ignore")
            from trl.experimental.orpo import ORPOConfig, ORPOTrainer

        return ORPOConfig, ORPOTrainer

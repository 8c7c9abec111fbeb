"""Direct preference optimisation (Rafailov et al. 2023, arXiv:2305.18290): learn from pairs
of a chosen and a rejected answer, against a reference model (TRL's DPOTrainer)."""

from __future__ import annotations

from typing import Any

from ft_tui.core.objectives.preference import PreferenceObjective


class DPO(PreferenceObjective):
    name = "dpo"
    label = "DPO"
    formats = ("preference",)
    needs = "pairs of a chosen and a rejected answer (prompt, chosen, rejected)"
    trl_import = "from trl import DPOConfig, DPOTrainer"
    config_class, trainer_class = "DPOConfig", "DPOTrainer"
    reference = True

    def own_kwargs(self, cfg) -> dict[str, Any]:
        from ft_tui.core.config.settings import preference_loss

        return {"precompute_ref_log_probs": cfg.preference.reference == "precomputed",
                "loss_type": [preference_loss(cfg)]}

    def trl_classes(self):
        from trl import DPOConfig, DPOTrainer

        return DPOConfig, DPOTrainer

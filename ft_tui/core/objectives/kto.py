"""Kahneman-Tversky optimisation (Ethayarajh et al. 2024, arXiv:2402.01306): learn from single
answers labelled good (imitate) or bad (avoid), against a reference model (TRL's KTOTrainer)."""

from __future__ import annotations

from typing import Any

from ft_tui.core.objectives.preference import PreferenceObjective


class KTO(PreferenceObjective):
    name = "kto"
    label = "KTO"
    formats = ("kto",)
    needs = "single answers labelled true (imitate) or false (avoid)"
    trl_import = "from trl import KTOConfig, KTOTrainer"
    config_class, trainer_class = "KTOConfig", "KTOTrainer"
    reference = True
    shape = "kto"

    def to_row(self, ex, system_prompt: str = "") -> dict[str, Any]:
        from ft_tui.core.objectives.pairs import labelled_row

        return labelled_row(ex, system_prompt)

    def train_data(self, cfg):
        from ft_tui.core.objectives.pairs import rows_train_data

        # Trained in a fixed order (see own_kwargs): shuffled once, seeded, instead.
        return rows_train_data(cfg, self.to_row, self.shape, shuffle=True)

    def held_out(self, cfg) -> tuple[list, list]:
        """Held-out rows with a true and a false answer to one prompt, as chosen/rejected
        pairs, so KTO is scored like DPO (preference accuracy)."""
        from ft_tui.core.data.types import Example

        train, rows = super().held_out(cfg)
        by_prompt: dict[str, dict[bool, Any]] = {}
        for ex in rows:
            by_prompt.setdefault(repr(ex.prompt_messages()), {}).setdefault(bool(ex.label), ex)
        pairs = []
        for sides in by_prompt.values():
            if True in sides and False in sides:
                good, bad = sides[True], sides[False]
                pairs.append(Example(good.line, good.prompt_messages() + good.completion_messages(),
                                     fmt="preference", chosen=good.completion_messages(),
                                     rejected=bad.completion_messages(), tools=good.tools))
        return train, pairs

    def own_kwargs(self, cfg) -> dict[str, Any]:
        from ft_tui.core.config.settings import preference_loss

        p = cfg.preference
        # KTO's KL estimate pairs each row with its batch neighbours, so TRL needs the order
        # fixed (TRL 1.x, trl/trainer/kto_config.py); the rows were shuffled with the run's seed.
        return {"precompute_ref_log_probs": p.reference == "precomputed",
                "train_sampling_strategy": "sequential", "loss_type": preference_loss(cfg),
                "desirable_weight": p.desirable_weight,
                "undesirable_weight": p.undesirable_weight}

    def trl_classes(self):
        from trl import KTOConfig, KTOTrainer

        return KTOConfig, KTOTrainer

"""The preference engine shared by DPO, KTO and ORPO: policy, reference and trainer
arguments from one RunConfig (``PreferenceObjective``; each objective module adds its own).

TRL 1.16 (trl/trainer/dpo_trainer.py, kto_trainer.py), checked against the installed code:

- Given a base model and a ``peft_config``, the trainer adds the LoRA adapter itself and
  computes reference log-probs with the adapter switched off (``use_adapter(model, None)``):
  the reference costs a forward pass, not a second copy of the weights. A model that is
  already a ``PeftModel`` would instead get a frozen "ref" copy of its adapter; we use that
  on purpose when the run starts from an SFT adapter, so the reference is the SFT model.
- Full fine-tuning with no ``ref_model`` loads a frozen copy of the model from its folder;
  ``precompute_ref_log_probs`` scores the data once before training instead.
- ``max_prompt_length`` is gone in TRL 1.x: ``max_length`` caps prompt + answer, keeping
  the start (``truncation_mode="keep_start"``).
- ORPO (trl/experimental/orpo/orpo_trainer.py) has no reference model at all.

The Trainer arguments shared with SFT (schedule, saving, logging, precision) come from
:func:`~ft_tui.core.training.builder.build_sft_config`, so every objective trains with one
set of decisions.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ft_tui.core.errors import SetupError
from ft_tui.core.objectives.base import Objective

SFT_ONLY = ("packing", "completion_only_loss")


class PreferenceObjective(Objective):
    """An objective that learns from judged answers rather than targets to copy."""

    evaluation = "pairs"
    script = "rows"
    shape = "preference"     # TrainData.shape of its rows

    def to_row(self, ex, system_prompt: str = "") -> dict[str, Any]:
        from ft_tui.core.objectives.pairs import pair_row

        return pair_row(ex, system_prompt)

    def train_data(self, cfg):
        from ft_tui.core.objectives.pairs import rows_train_data

        return rows_train_data(cfg, self.to_row, self.shape)

    def own_kwargs(self, cfg) -> dict[str, Any]:
        """The objective's own config arguments (beta, loss, reference, ...)."""
        return {}

    def trainer_kwargs(self, cfg, *, has_eval: bool, completion_only: bool = True) -> dict[str, Any]:
        """SFT's map (``sft_args.sft_kwargs``) without its SFT-only keys, plus the
        objective's own; plain Python values, shared by the trainer and the exported script."""
        from ft_tui.core.training.sft_args import sft_kwargs

        kwargs = sft_kwargs(cfg, has_eval=has_eval, completion_only=False)
        for key in SFT_ONLY:
            kwargs.pop(key, None)
        # Length grouping reads an input_ids column; preference rows have chosen_/rejected_ ones.
        kwargs.update(beta=cfg.preference.beta, max_length=cfg.data.max_length,
                      train_sampling_strategy="random")
        kwargs.update(self.own_kwargs(cfg))
        return kwargs

    def trl_classes(self):
        """(config class, trainer class) from TRL."""
        raise NotImplementedError

    def build_config(self, cfg, checkpoints_dir: Path, precision, device, *, has_eval: bool,
                     data=None, world_size: int = 1):
        """The SFT run's machine-dependent Trainer arguments (precision, CPU/DDP switches,
        event plumbing) exactly as an SFT run gets them, then the objective's on top."""
        from transformers import TrainingArguments

        from ft_tui.core.training.builder import build_sft_config

        sft = build_sft_config(cfg, checkpoints_dir, precision, device, has_eval=has_eval,
                               completion_only=False, world_size=world_size)
        kwargs: dict[str, Any] = {f.name: getattr(sft, f.name)
                                  for f in dataclasses.fields(TrainingArguments) if f.init}
        kwargs.update(self.trainer_kwargs(cfg, has_eval=has_eval))
        return self.trl_classes()[0](**kwargs)

    def prepare(self, cfg, data, precision, device, log, note):
        """(model, tokenizer, peft_config or None). The model is the base (4-bit for
        QLoRA), or a trainable PeftModel holding the SFT adapter the run starts from."""
        from ft_tui.core.training.builder import (load_model_and_tokenizer, load_run_tokenizer,
                                                  lora_config)

        loaded = load_run_tokenizer(cfg, log=log, note=note)
        model, tokenizer, _base = load_model_and_tokenizer(cfg, precision, device, log,
                                                           adapters=False, loaded=loaded)
        if cfg.method == "full":
            return model, tokenizer, None
        if cfg.method == "qlora":
            from ft_tui.core.training.builder import prepare_kbit

            model = prepare_kbit(model, cfg)
        init = cfg.preference.init_adapter.strip()
        if not init:
            return model, tokenizer, lora_config(cfg)
        from peft import PeftModel

        folder = resolve_init_adapter(init)
        try:
            model = PeftModel.from_pretrained(model, str(folder), is_trainable=True)
        except (ValueError, RuntimeError, KeyError) as exc:  # shapes of another base model
            raise SetupError(f"preference.init_adapter: {folder} does not fit {cfg.model.name}: "
                             f"{str(exc).splitlines()[0]}") from None
        return model, tokenizer, None

    def make_trainer(self, model, tokenizer, args, data, callback, cfg, peft_config):
        from ft_tui.core.training.builder import hand_to_trainer

        return hand_to_trainer(self.trl_classes()[1], model, tokenizer, args, data, callback,
                               cfg, peft_config=peft_config)

    def before_save(self, trainer) -> None:
        """Started from an SFT adapter, TRL trains it against a frozen "ref" copy; the copy
        is not part of the result, so it is removed before the final save."""
        model = trainer.model
        if "ref" in getattr(model, "peft_config", {}):
            model.delete_adapter("ref")


def resolve_init_adapter(text: str) -> Path:
    """An SFT run directory (its adapter/) or an adapter folder itself."""
    path = Path(text).expanduser()
    for candidate in (path / "adapter", path):
        if (candidate / "adapter_config.json").is_file():
            return candidate
    raise SetupError(f"preference.init_adapter: {text!r} is neither an adapter folder nor a "
                     "finished LoRA run directory (no adapter_config.json); pick a run that "
                     "trained with method lora or qlora")

"""The DPO / KTO engine: policy, reference and trainer arguments from one RunConfig.

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

The Trainer arguments shared with SFT (schedule, saving, logging, precision) come from
:func:`~ft_tui.core.training.builder.build_sft_config`, so both objectives train with one
set of decisions.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ft_tui.core.training.dataset import eval_subset
from ft_tui.core.errors import SetupError
from ft_tui.core.training.device import DeviceInfo, Precision


def build_preference_config(cfg, checkpoints_dir: Path, precision: Precision, device: DeviceInfo, *,
                            has_eval: bool, world_size: int = 1):
    """DPOConfig or KTOConfig: the SFT run's Trainer arguments plus DPO/KTO's own."""
    from transformers import TrainingArguments
    from trl import DPOConfig, KTOConfig

    from ft_tui.core.training.builder import build_sft_config

    # The machine-dependent Trainer arguments (precision, CPU/DDP switches, event plumbing)
    # exactly as an SFT run gets them, then the config's DPO/KTO arguments on top.
    sft = build_sft_config(cfg, checkpoints_dir, precision, device, has_eval=has_eval,
                           completion_only=False, world_size=world_size)
    kwargs: dict[str, Any] = {f.name: getattr(sft, f.name)
                              for f in dataclasses.fields(TrainingArguments) if f.init}
    kwargs.update(preference_kwargs(cfg, has_eval=has_eval))
    return (KTOConfig if cfg.objective == "kto" else DPOConfig)(**kwargs)


SFT_ONLY = ("packing", "completion_only_loss")


def preference_kwargs(cfg, *, has_eval: bool) -> dict[str, Any]:
    """DPOConfig/KTOConfig arguments that follow from the config alone (plain Python values):
    SFT's map (``sft_args.sft_kwargs``) without its SFT-only keys, plus beta, loss and the
    reference. The trainer and the exported script both use it."""
    from ft_tui.core.config.settings import preference_loss
    from ft_tui.core.training.sft_args import sft_kwargs

    kwargs = sft_kwargs(cfg, has_eval=has_eval, completion_only=False)
    for key in SFT_ONLY:
        kwargs.pop(key, None)
    p = cfg.preference
    kwargs.update(beta=p.beta, max_length=cfg.data.max_length,
                  precompute_ref_log_probs=p.reference == "precomputed",
                  # Length grouping reads an input_ids column; preference rows have
                  # chosen_/rejected_ ones.
                  train_sampling_strategy="random")
    if cfg.objective == "kto":
        # KTO's KL estimate pairs each row with its batch neighbours, so TRL needs the
        # order fixed (TRL 1.x, trl/trainer/kto_config.py); the rows were shuffled with the
        # seed instead.
        kwargs.update(train_sampling_strategy="sequential", loss_type=preference_loss(cfg),
                      desirable_weight=p.desirable_weight, undesirable_weight=p.undesirable_weight)
    else:
        kwargs["loss_type"] = [preference_loss(cfg)]
    return kwargs


def load_policy(cfg, precision: Precision, device: DeviceInfo, log=print):
    """(model, tokenizer, peft_config or None). The model is the base (4-bit for QLoRA),
    or a trainable PeftModel holding the SFT adapter the run starts from."""
    from ft_tui.core.training.builder import load_model_and_tokenizer, lora_config

    model, tokenizer, _base = load_model_and_tokenizer(cfg, precision, device, log, adapters=False)
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


def resolve_init_adapter(text: str) -> Path:
    """An SFT run directory (its adapter/) or an adapter folder itself."""
    path = Path(text).expanduser()
    for candidate in (path / "adapter", path):
        if (candidate / "adapter_config.json").is_file():
            return candidate
    raise SetupError(f"preference.init_adapter: {text!r} is neither an adapter folder nor a "
                     "finished LoRA run directory (no adapter_config.json); pick a run that "
                     "trained with method lora or qlora")


def make_preference_trainer(model, tokenizer, args, data, callback, cfg, peft_config):
    from datasets import Dataset
    from transformers import EarlyStoppingCallback, PrinterCallback, ProgressCallback
    from trl import DPOTrainer, KTOTrainer

    callbacks = [callback]
    if args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.training.early_stopping_patience))
    cls = KTOTrainer if cfg.objective == "kto" else DPOTrainer
    trainer = cls(model=model, args=args, processing_class=tokenizer,
                  train_dataset=Dataset.from_list(data.train_rows),
                  eval_dataset=(Dataset.from_list(eval_subset(data.eval_rows, cfg.training.max_eval_rows))
                                if data.eval_rows else None),
                  callbacks=callbacks, peft_config=peft_config)
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def drop_reference_adapter(trainer) -> None:
    """Started from an SFT adapter, TRL trains it against a frozen "ref" copy; the copy is
    not part of the result, so it is removed before the final save."""
    model = trainer.model
    if "ref" in getattr(model, "peft_config", {}):
        model.delete_adapter("ref")

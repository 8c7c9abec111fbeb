"""Model, tokenizer, adapters and the SFTConfig, all from one RunConfig.

Argument names are those of TRL 1.16 / transformers 5 (checked against the installed
signatures): ``processing_class`` not ``tokenizer``; bf16/fp16 always explicit (TRL's bf16
default fails on CPU unless ``use_cpu``). The config-derived SFTConfig arguments come from
``core/training/sft_args.py``, shared with the exported standalone script.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ft_tui.core.errors import SetupError
from ft_tui.core.plan.device import DeviceInfo, Precision, check_liger, pick_attention


def load_run_tokenizer(cfg, log=print, note=None):
    """(tokenizer, model folder) of the run's model, without the model: the data is
    tokenised (and its problems said) before the slow weight load. The one loader's
    chat-template rule (core/models/loader.py); ``note`` hears when the fallback is used."""
    from ft_tui.core.models.loader import FALLBACK_NOTE, base_and_tokenizer

    path, loaded = base_and_tokenizer(cfg, log=log)
    if loaded.fallback and note is not None:
        note(FALLBACK_NOTE)
    return loaded.tokenizer, path


def load_model_and_tokenizer(cfg, precision: Precision, device: DeviceInfo, log=print, *,
                             adapters: bool = True, loaded: tuple | None = None):
    """(model with adapters applied, tokenizer, base model folder). ``adapters=False``
    returns the (possibly 4-bit) base for a trainer that adds the adapter itself;
    ``loaded``, ``load_run_tokenizer``'s answer, is used as is."""
    import torch
    from transformers import AutoModelForCausalLM, set_seed

    # Adapter initialisation draws random numbers before the Trainer seeds anything: seed
    # here, or two runs of one config start from different adapters.
    set_seed(cfg.training.seed)

    tokenizer, path = loaded or load_run_tokenizer(cfg, log)
    trust = cfg.model.trust_remote_code

    kwargs: dict[str, Any] = {"dtype": getattr(torch, precision.weights_dtype),
                              "trust_remote_code": trust,
                              "attn_implementation": pick_attention(cfg, device)}
    if cfg.method == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=cfg.qlora.quant_type,
            bnb_4bit_use_double_quant=cfg.qlora.double_quant,
            bnb_4bit_compute_dtype=getattr(torch, precision.compute_dtype))
        # Each process puts its own copy of the 4-bit base on its own GPU.
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))} if device.cuda else {"": "cpu"}
    model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return (apply_method(model, cfg) if adapters else model), tokenizer, Path(path)


def apply_method(model, cfg):
    """LoRA / QLoRA adapters on a frozen base, or the model itself for a full fine-tune."""
    if cfg.method == "full":
        return model
    from peft import get_peft_model

    if cfg.method == "qlora":
        model = prepare_kbit(model, cfg)
    try:
        return get_peft_model(model, lora_config(cfg))
    except ValueError as exc:  # e.g. target modules that this architecture does not have
        raise SetupError(f"lora.target_modules: {exc}") from None


def prepare_kbit(model, cfg):
    """PEFT's ``prepare_model_for_kbit_training`` (inputs require grads so checkpointing works
    on a frozen 4-bit base), then the embeddings and lm_head back to the compute dtype: PEFT
    casts every non-4-bit weight to fp32, which on Llama-3 8B is 3.9 GiB more than the
    planner (and the QLoRA recipe) assumes. Norms stay fp32: they are small and fp32 keeps
    them stable."""
    import torch
    from peft import prepare_model_for_kbit_training

    model = prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=cfg.training.gradient_checkpointing)
    compute = getattr(model.config, "quantization_config", None)
    dtype = getattr(compute, "bnb_4bit_compute_dtype", None) if compute is not None else None
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    if dtype in (torch.bfloat16, torch.float16):
        for module in (model.get_input_embeddings(), model.get_output_embeddings()):
            if module is not None:
                module.to(dtype)
    return model


def lora_config(cfg):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora_targets(), task_type="CAUSAL_LM")


def count_params(model) -> tuple[int, int]:
    trainable = total = 0
    for p in model.parameters():
        n = p.numel()
        # 4-bit weights are packed two per byte; count the parameters they stand for.
        if p.__class__.__name__ == "Params4bit":
            n *= 2
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total


def build_sft_config(cfg, checkpoints_dir: Path, precision: Precision, device: DeviceInfo, *,
                     has_eval: bool, completion_only: bool, world_size: int = 1):
    """The SFTConfig: :func:`sft_args.sft_kwargs` (shared with the exported script) plus
    what depends on this machine and on ft-tui's own event stream."""
    from trl import SFTConfig

    from ft_tui.core.training.sft_args import sft_kwargs

    kwargs = sft_kwargs(cfg, has_eval=has_eval, completion_only=completion_only)
    kwargs.update(
        output_dir=str(checkpoints_dir),
        bf16=precision.bf16, fp16=precision.fp16,
        # Counted by the Trainer and saved in each checkpoint, so the token count
        # continues after a resume (TRL's own num_tokens restarts at zero).
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True, log_level="error",
        dataloader_pin_memory=device.cuda,
    )
    from ft_tui.core.plan.device import packing_allowed

    if cfg.training.packing and not packing_allowed(cfg, pick_attention(cfg, device))[0]:
        kwargs["packing"] = False   # the runner's start event says why (preflight warning)
    if check_liger(cfg, device):
        kwargs["use_liger_kernel"] = True
    if not device.cuda and precision.bf16:
        # TrainingArguments refuses bf16 without a GPU unless told the run is on the CPU;
        # then accelerate autocasts each forward to bf16 on the CPU.
        kwargs["use_cpu"] = True
    if world_size > 1:
        # Several CPU processes need the Trainer told explicitly (it then uses gloo); on
        # GPUs every parameter we train is used in each forward, so DDP need not search.
        kwargs["use_cpu"] = not device.cuda
        kwargs["ddp_find_unused_parameters"] = False
    return SFTConfig(**kwargs)


def hand_to_trainer(trainer_class, model, tokenizer, args, data, callback, cfg, **extra):
    """A TRL trainer over the run's rows (the held-out ones capped at
    ``training.max_eval_rows``), with ft-tui's event callback and early stopping; every
    objective's trainer is made here."""
    from datasets import Dataset
    from transformers import EarlyStoppingCallback, PrinterCallback, ProgressCallback

    from ft_tui.core.training.dataset import eval_subset

    callbacks = [callback]
    if args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.training.early_stopping_patience))
    trainer = trainer_class(
        model=model, args=args, processing_class=tokenizer,
        train_dataset=Dataset.from_list(data.train_rows),
        eval_dataset=(Dataset.from_list(eval_subset(data.eval_rows, cfg.training.max_eval_rows))
                      if data.eval_rows else None),
        callbacks=callbacks, **extra)
    # Our events replace the Trainer's own printing (it would scribble over the TUI).
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer

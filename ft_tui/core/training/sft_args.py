"""The one map from a RunConfig to TRL's SFTConfig keyword arguments.

ft-tui's trainer (``core/training/builder.build_sft_config``) and the exported
``train_standalone.py`` (``core/export/script.py``, which embeds the dict this returns as
a Python literal) both start from :func:`sft_kwargs`, so the script trains with the same
decisions: the same schedule, checkpoints, evaluation and, from the data that was actually
built, the same completion-only flag. What is left out depends on the machine the run
happens on (output folder, bf16/fp16, CPU/DDP switches) and is added by each caller.

Argument names are TRL 1.16 / transformers 5's (``max_length``, ``activation_checkpointing``).
"""

from __future__ import annotations

from typing import Any


def completion_only(data) -> bool:
    """Whether the loss covers only the answers: the training rows were built as
    prompt/completion pairs (the data builder falls back to whole conversations when an
    example has no answer to isolate, and then the flag must be off)."""
    return data.shape == "prompt_completion"


def sft_kwargs(cfg, *, has_eval: bool, completion_only: bool) -> dict[str, Any]:
    """SFTConfig arguments that follow from the config alone (plain Python values)."""
    t = cfg.training
    eval_strategy = "no"
    if has_eval:
        eval_strategy = "steps" if t.eval_steps > 0 else "epoch"
    early = t.early_stopping_patience > 0 and has_eval
    save_strategy, save_steps = "steps", t.save_steps
    if early:
        # load_best_model_at_end needs saves to line up with evaluations.
        if eval_strategy == "epoch":
            save_strategy = "epoch"
        elif save_steps % t.eval_steps:
            save_steps = t.eval_steps * -(-save_steps // t.eval_steps)
    return dict(
        num_train_epochs=t.epochs, max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation,
        learning_rate=t.learning_rate, lr_scheduler_type=t.scheduler,
        warmup_steps=t.warmup_ratio,  # a value below 1 is a fraction of the total steps
        weight_decay=t.weight_decay, optim=t.optimizer,
        activation_checkpointing=t.gradient_checkpointing,
        max_length=cfg.data.max_length, packing=t.packing,
        # Length-grouped batches: less padding per batch (a packed run has none to cut).
        train_sampling_strategy="group_by_length" if t.group_by_length and not t.packing else "random",
        completion_only_loss=completion_only,
        logging_strategy="steps", logging_steps=t.logging_steps,
        # NaN must reach the logs; the default filter hides it behind an average.
        logging_nan_inf_filter=False,
        eval_strategy=eval_strategy, eval_steps=t.eval_steps if eval_strategy == "steps" else None,
        save_strategy=save_strategy, save_steps=save_steps, save_total_limit=t.save_total_limit,
        load_best_model_at_end=early,
        metric_for_best_model="eval_loss" if early else None, greater_is_better=False if early else None,
        seed=t.seed, data_seed=t.seed,
        report_to="none",
    )

"""The standalone training script that ``ft-tui export`` writes: the run's settings as
plain TRL + PEFT code with no ft-tui import, so a user can leave the tool behind.

Its SFTConfig arguments are the dict the SFT objective's ``trainer_kwargs`` (``core/
training/sft_args.sft_kwargs``) made for the run, embedded as a literal: the same map ft-tui's own trainer uses, so both make the same
decisions. Values are written with ``repr`` so the result is always valid Python.
"""

from __future__ import annotations

from typing import Any

_TEMPLATE = '''#!/usr/bin/env python
"""Train {run_name!s} again with TRL and PEFT directly (exported by ft-tui).

No ft-tui needed: only torch, transformers, trl, peft, datasets and accelerate
(and bitsandbytes for QLoRA).

    python {script_name!s}                     # the run's own settings
    python {script_name!s} --max-steps 2       # a quick smoke test
    python {script_name!s} --output-dir out    # somewhere else

What it trains on: data/train.tokenized.jsonl (and data/eval.tokenized.jsonl), the very
rows ft-tui's own trainer gave TRL for this run. Each row is {{"input_ids", "labels"}}: the
conversation rendered by the model's chat template and tokenised, with labels -100 on every
token that takes no loss. TRL uses such a "labels" column as it is, so this script needs
no chat template or masking code of its own.
{trained_note!s} The held-out rows are those
ft-tui scores at each evaluation (the first training.max_eval_rows). data/train.jsonl (and
data/eval.jsonl) beside them are the same conversations in readable form (messages, with
tool calls, tools and per-message weights), for reading and editing; if you change them,
tokenise them again (or `ft-tui train` them) instead of running this script on stale rows.
"""

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# {model_note!s}
MODEL = {model!r}
TRAIN_FILE = HERE / {train_file!r}
EVAL_FILE = {eval_file_expr!s}
METHOD = {method!r}  # lora | qlora | full
MODEL_DTYPE = {model_dtype!r}  # auto: bf16 (or fp16) on a GPU, fp32 on CPU
PRECISION = {precision!r}  # mixed precision: auto | bf16 | fp16 | fp32
TRUST_REMOTE_CODE = {trust_remote_code!r}

LORA = {lora!s}
# Used when METHOD == "qlora".
QLORA = {qlora!s}

# SFTConfig arguments, as ft-tui's trainer set them for this run (output_dir and the
# precision flags are added at run time, for this machine).
TRAINING = {training!s}
EARLY_STOPPING_PATIENCE = {patience!r}  # used when TRAINING["load_best_model_at_end"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\\n\\n")[0])
    parser.add_argument("--max-steps", type=int, default=TRAINING["max_steps"],
                        help="stop after N optimizer steps (-1: train for num_train_epochs)")
    parser.add_argument("--output-dir", default=str(HERE / "standalone-run"),
                        help="checkpoints and the final adapter/model go here")
    return parser.parse_args(argv)


def precision_settings():
    """(SFTConfig precision flags, model dtype) for this machine."""
    import torch

    if not torch.cuda.is_available():
        # bf16 autocast (weights fp32) where the CPU has bf16 instructions and oneDNN uses
        # them, as ft-tui trains; fp32 elsewhere, where emulated bf16 is slower.
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                cpu_flags = set(next((l for l in fh if l.startswith("flags")), "").split())
        except OSError:
            cpu_flags = set()
        fast = bool(cpu_flags & {{"avx512_bf16", "amx_bf16"}}) and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        if PRECISION in ("auto", "bf16") and fast:
            return {{"bf16": True, "fp16": False, "use_cpu": True}}, torch.float32
        return {{"bf16": False, "fp16": False}}, torch.float32
    mode = PRECISION
    if mode == "auto":
        mode = "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    flags = {{"bf16": mode == "bf16", "fp16": mode == "fp16"}}
    if MODEL_DTYPE != "auto":
        dtype = getattr(torch, MODEL_DTYPE)
    else:
        dtype = {{"bf16": torch.bfloat16, "fp16": torch.float16}}.get(mode, torch.float32)
    if METHOD == "full" and dtype == torch.float16:
        dtype = torch.float32  # fp16 mixed precision needs fp32 master weights
    return flags, dtype


def main(argv=None):
    args = parse_args(argv)
    # Heavy imports here so `--help` is instant.
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, BitsAndBytesConfig, EarlyStoppingCallback, set_seed
    from trl import SFTConfig, SFTTrainer

    # Seed before the adapter is created (inside SFTTrainer), as ft-tui does.
    set_seed(TRAINING["seed"])
    flags, dtype = precision_settings()
    tokenizer = AutoTokenizer.from_pretrained(MODEL, trust_remote_code=TRUST_REMOTE_CODE)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    train = load_dataset("json", data_files=str(TRAIN_FILE), split="train")
    held_out = load_dataset("json", data_files=str(EVAL_FILE), split="train") if EVAL_FILE else None

    settings = dict(TRAINING, max_steps=args.max_steps, output_dir=args.output_dir, **flags)
    if held_out is None:
        settings.update(eval_strategy="no", eval_steps=None)
    callbacks = []
    if settings["load_best_model_at_end"]:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=EARLY_STOPPING_PATIENCE))
    init = {{"dtype": dtype, "trust_remote_code": TRUST_REMOTE_CODE}}
    if settings.get("packing"):
        # Packing flattens each batch padding-free: only FlashAttention-2 keeps that cheap
        # (otherwise one (batch x length)^2 mask), so pack with it or pad.
        from transformers.utils import is_flash_attn_2_available

        if flags["bf16"] and is_flash_attn_2_available():
            init["attn_implementation"] = "flash_attention_2"
        else:
            print("warning: packing needs FlashAttention-2 on a GPU of compute capability 8.0+; "
                  "padding each example instead")
            settings["packing"] = False
    config = SFTConfig(**settings, model_init_kwargs=init)

    quantization = None
    if METHOD == "qlora":
        if not torch.cuda.is_available():
            print("warning: QLoRA without a CUDA GPU runs on bitsandbytes' CPU backend, very slowly")
        compute = QLORA["compute_dtype"]
        if compute == "bfloat16" and not (torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)):
            compute = "float16" if torch.cuda.is_available() else "float32"
        if flags["fp16"] and compute == "bfloat16":
            compute = "float16"   # the 4-bit matmuls follow fp16 mixed precision
        quantization = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=QLORA["quant_type"],
            bnb_4bit_use_double_quant=QLORA["double_quant"],
            bnb_4bit_compute_dtype=getattr(torch, compute))
    peft_config = None
    if METHOD in ("lora", "qlora"):
        peft_config = LoraConfig(task_type="CAUSAL_LM", **LORA)

    trainer = SFTTrainer(model=MODEL, args=config, train_dataset=train, eval_dataset=held_out,
                         processing_class=tokenizer, peft_config=peft_config,
                         quantization_config=quantization, callbacks=callbacks)
    trainer.train()
    history = Path(args.output_dir) / "log_history.json"  # loss, learning rate... per logged step
    history.write_text(json.dumps(trainer.state.log_history, indent=1))
    final = Path(args.output_dir) / ("adapter" if peft_config is not None else "model")
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    print(f"saved to {{final}}")


if __name__ == "__main__":
    main()
'''


def _trained_note(cfg) -> str:
    """Which tokens the labels train, in words (the choice ``core/data/masks.py`` made)."""
    if not cfg.training.completion_only_loss:
        return "Here every token is trained (training.completion_only_loss = false)."
    turns = ("the last assistant turn only" if cfg.data.train_on == "last_assistant"
             else "every assistant turn")
    return (f"Here the loss covers {turns} (data.train_on = {cfg.data.train_on}),\n"
            "tool calls included, except turns of weight 0.")


def _dict_literal(values: dict[str, Any]) -> str:
    """A dict as Python source, one key per line."""
    return "{\n" + "".join(f"    {key!r}: {value!r},\n" for key, value in values.items()) + "}"


def render_script(cfg, *, model: str, model_note: str, train_file: str, eval_file: str | None,
                  run_name: str, script_name: str, completion_only: bool) -> str:
    """Python source of the standalone script (``train_file``/``eval_file`` are relative to
    the script's folder and hold pre-tokenised ``{"input_ids", "labels"}`` rows, from
    ``TrainData.tokenize``; ``completion_only`` is the flag the trainer derived from the
    data, ``sft_args.completion_only``)."""
    from ft_tui.core.objectives import objective_of

    training = objective_of(cfg).trainer_kwargs(cfg, has_eval=eval_file is not None,
                                                completion_only=completion_only)
    lora = {"r": cfg.lora.r, "lora_alpha": cfg.lora.alpha, "lora_dropout": cfg.lora.dropout,
            "target_modules": cfg.lora_targets()}
    qlora = {"quant_type": cfg.qlora.quant_type, "double_quant": cfg.qlora.double_quant,
             "compute_dtype": cfg.qlora.compute_dtype}
    def plain(text: str) -> str:  # safe inside a docstring or a comment line
        return " ".join(text.replace('"', "'").replace("\\", "/").split())

    return _TEMPLATE.format(
        run_name=plain(run_name), script_name=plain(script_name), model_note=plain(model_note),
        trained_note=_trained_note(cfg),
        model=model,
        train_file=train_file,
        eval_file_expr=f"HERE / {eval_file!r}" if eval_file else "None",
        method=cfg.method,
        model_dtype=cfg.model.dtype, precision=cfg.training.precision,
        trust_remote_code=cfg.model.trust_remote_code, lora=_dict_literal(lora),
        qlora=_dict_literal(qlora), training=_dict_literal(training),
        patience=cfg.training.early_stopping_patience,
    )

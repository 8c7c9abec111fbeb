"""The standalone script ``ft-tui export`` writes for a DPO, KTO or ORPO run: plain TRL +
PEFT, no ft-tui import. Its config arguments are the dict the objective's
``trainer_kwargs`` (core/objectives/) made for the run (the map ft-tui's own trainer uses),
embedded as a literal; the machine-dependent precision choice is the SFT script's own
function, copied in unchanged."""

from __future__ import annotations

from ft_tui.core.export.script import _TEMPLATE as _SFT_TEMPLATE
from ft_tui.core.export.script import _dict_literal

_PRECISION = (_SFT_TEMPLATE[_SFT_TEMPLATE.index("def precision_settings"):_SFT_TEMPLATE.index("def main(")]
              .replace("{{", "{").replace("}}", "}"))  # a value here, not template text

_TEMPLATE = '''#!/usr/bin/env python
"""Train {run_name!s} again ({objective_upper!s}) with TRL and PEFT directly (exported by ft-tui).

No ft-tui needed: only torch, transformers, trl, peft, datasets and accelerate
(and bitsandbytes for QLoRA).

    python {script_name!s}                     # the run's own settings
    python {script_name!s} --max-steps 2       # a quick smoke test
    python {script_name!s} --output-dir out    # somewhere else

The data files beside this script hold the run's training and held-out rows exactly as
ft-tui gave them to TRL: {row_shape!s}. {reference_note!s}
"""

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# {model_note!s}
MODEL = {model!r}
TRAIN_FILE = HERE / {train_file!r}
EVAL_FILE = {eval_file_expr!s}
OBJECTIVE = {objective!r}  # dpo | kto | orpo
METHOD = {method!r}  # lora | qlora | full
MODEL_DTYPE = {model_dtype!r}  # auto: bf16 (or fp16) on a GPU, fp32 on CPU
PRECISION = {precision!r}  # mixed precision: auto | bf16 | fp16 | fp32
TRUST_REMOTE_CODE = {trust_remote_code!r}
# An SFT adapter the run started from ("SFT first, then DPO"); the reference is then the
# SFT model (TRL keeps a frozen copy of the adapter). None: start from the base.
INIT_ADAPTER = {init_adapter!r}

LORA = {lora!s}
# Used when METHOD == "qlora".
QLORA = {qlora!s}

# {config_name!s} arguments, as ft-tui's trainer set them for this run (output_dir and the
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


{precision_source!s}
def main(argv=None):
    args = parse_args(argv)
    import torch
    from datasets import load_dataset
    from peft import LoraConfig, PeftModel, prepare_model_for_kbit_training
    from transformers import (AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig,
                              EarlyStoppingCallback, set_seed)
    {trl_import!s}

    set_seed(TRAINING["seed"])  # before the adapter is created, as ft-tui does
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
    config = {config_name!s}(**settings)

    load = {{"dtype": dtype, "trust_remote_code": TRUST_REMOTE_CODE}}
    if METHOD == "qlora":
        compute = QLORA["compute_dtype"]
        if compute == "bfloat16" and not (torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)):
            compute = "float16" if torch.cuda.is_available() else "float32"
        load["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=QLORA["quant_type"],
            bnb_4bit_use_double_quant=QLORA["double_quant"],
            bnb_4bit_compute_dtype=getattr(torch, compute))
    model = AutoModelForCausalLM.from_pretrained(MODEL, **load)
    if METHOD == "qlora":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=TRAINING["activation_checkpointing"])
    peft_config = None
    if METHOD in ("lora", "qlora"):
        if INIT_ADAPTER:
            model = PeftModel.from_pretrained(model, INIT_ADAPTER, is_trainable=True)
        else:
            peft_config = LoraConfig(task_type="CAUSAL_LM", **LORA)

    trainer = {trainer_name!s}(model=model, args=config, train_dataset=train, eval_dataset=held_out,
                         processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    trainer.train()
    history = Path(args.output_dir) / "log_history.json"  # loss, rewards/margins ... per step
    history.write_text(json.dumps(trainer.state.log_history, indent=1))
    final = Path(args.output_dir) / ("adapter" if METHOD != "full" else "model")
    if "ref" in getattr(trainer.model, "peft_config", {{}}):
        trainer.model.delete_adapter("ref")   # the frozen reference copy is not part of the result
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    print(f"saved to {{final}}")


if __name__ == "__main__":
    main()
'''


def render_preference_script(cfg, *, model: str, model_note: str, train_file: str,
                             eval_file: str | None, run_name: str, script_name: str,
                             completion_only: bool = False) -> str:
    """Python source of the script (``completion_only`` is the SFT renderer's: preference
    rows carry no loss masks)."""
    from ft_tui.core.objectives import objective_of
    from ft_tui.core.objectives.preference import resolve_init_adapter

    objective = objective_of(cfg)
    training = objective.trainer_kwargs(cfg, has_eval=eval_file is not None)
    lora = {"r": cfg.lora.r, "lora_alpha": cfg.lora.alpha, "lora_dropout": cfg.lora.dropout,
            "target_modules": cfg.lora_targets()}
    qlora = {"quant_type": cfg.qlora.quant_type, "double_quant": cfg.qlora.double_quant,
             "compute_dtype": cfg.qlora.compute_dtype}
    init = cfg.preference.init_adapter.strip()
    if init:
        init = str(resolve_init_adapter(init).resolve())
    shapes = {"kto": "prompt/completion rows with a true/false label",
              "preference": "conversational prompt/chosen/rejected rows"}
    reference = ("With LoRA/QLoRA the reference model is the base\nwith the adapter switched "
                 "off (TRL does this when given a peft_config), so no second copy\nof the model "
                 "is loaded." if objective.reference else
                 f"{objective.label} needs no reference model.")

    def plain(text: str) -> str:
        return " ".join(text.replace('"', "'").replace("\\", "/").split())

    return _TEMPLATE.format(
        run_name=plain(run_name), script_name=plain(script_name), model_note=plain(model_note),
        objective=cfg.objective, objective_upper=objective.label, model=model,
        train_file=train_file, eval_file_expr=f"HERE / {eval_file!r}" if eval_file else "None",
        method=cfg.method, model_dtype=cfg.model.dtype, precision=cfg.training.precision,
        trust_remote_code=cfg.model.trust_remote_code, init_adapter=init or None,
        lora=_dict_literal(lora), qlora=_dict_literal(qlora), training=_dict_literal(training),
        patience=cfg.training.early_stopping_patience,
        config_name=objective.config_class, trainer_name=objective.trainer_class,
        trl_import=objective.trl_import, row_shape=shapes[objective.shape],
        reference_note=reference, precision_source=_PRECISION)

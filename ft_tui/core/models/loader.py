"""The one loader of a run's models: its base model folder, its tokenizer (one chat-template
rule), the base for inference, and the fine-tuned model (base + adapter, or full weights).

Training (core/training/builder.py), the baseline and the evaluation (core/evaluate/),
the chat (core/models/chat.py) and the export (core/export/) all load through here, so
they read the same folder and the same tokenizer and render prompts the same way.

The chat-template rule: a tokenizer with no chat template (a base, non-instruct model) gets
the ChatML fallback (``generation.FALLBACK_CHAT_TEMPLATE``) in every step, training
included; the caller says so once (``RunTokenizer.fallback``). Training saves the tokenizer
beside the adapter, template included, so the fine-tuned model is prompted as it learned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ft_tui.core.errors import SetupError
from ft_tui.core.paths import resolve_data_path

FALLBACK_NOTE = ("the model's tokenizer has no chat template (a base, not an instruct model); "
                 "ft-tui formats every conversation with the ChatML layout instead, in "
                 "training, evaluation and chat alike")


@dataclass
class RunTokenizer:
    tokenizer: Any
    fallback: bool   # True when the ChatML fallback template was given to it


def base_model_folder(cfg, log: Callable[[str], None] = lambda msg: None) -> Path:
    """The run's base model as a local safetensors folder (converted once from a GGUF, or
    the hub snapshot at the run's pinned ``model.revision``, downloaded when missing unless
    the run is offline); SetupError naming ``model.name`` when it cannot be had."""
    from ft_tui.core.models.resolve import ModelNotFound, prepare_run_model

    try:
        return Path(prepare_run_model(cfg, log=log))
    except ModelNotFound as exc:
        raise SetupError(f"model.name: {exc}") from None


def run_tokenizer(cfg, folder: str | os.PathLike, trained: str | os.PathLike | None = None) -> RunTokenizer:
    """The tokenizer a run's model is prompted with: the one training saved beside the
    trained model where there is one, else the base model's; the chat-template rule above."""
    from ft_tui.core.models.generation import ensure_chat_template, has_tokenizer
    from ft_tui.core.models.resolve import load_tokenizer

    source = trained if trained is not None and has_tokenizer(trained) else folder
    tokenizer = load_tokenizer(source, trust_remote_code=cfg.model.trust_remote_code)
    return RunTokenizer(tokenizer, ensure_chat_template(tokenizer))


def base_and_tokenizer(cfg, trained: str | os.PathLike | None = None,
                       log: Callable[[str], None] = lambda msg: None) -> tuple[Path, RunTokenizer]:
    """(base model folder, the run's tokenizer): what every inference step loads first."""
    folder = base_model_folder(cfg, log)
    return folder, run_tokenizer(cfg, folder, trained)


def inference_settings(cfg) -> dict[str, Any]:
    """``device``, ``dtype`` and ``trust_remote_code`` for ``load_base``/``load_finetuned``."""
    from ft_tui.core.models.generation import inference_device_and_dtype

    device, dtype = inference_device_and_dtype(cfg.method)   # a QLoRA run's base in 4-bit
    return {"device": device, "dtype": dtype, "trust_remote_code": cfg.model.trust_remote_code}


def load_base(folder: str | os.PathLike, load: dict[str, Any]):
    """The base model in eval mode, for answering (in 4-bit for a QLoRA run on a GPU, as it
    trained: ``inference_settings``)."""
    from ft_tui.core.models.generation import load_for_inference

    return load_for_inference(folder, **load)


def load_finetuned(base_folder: str | os.PathLike, trained: str | os.PathLike,
                   load: dict[str, Any], model=None):
    """The fine-tuned model: base + adapter merged (into ``model`` when the base is already
    loaded), or the fully fine-tuned weights."""
    from ft_tui.core.run.artifacts import is_peft_adapter

    if is_peft_adapter(trained):
        from peft import PeftModel

        from ft_tui.core.models.generation import FourBit

        if model is None:
            model = load_base(base_folder, load)
        if isinstance(load["dtype"], FourBit):
            # A 4-bit base keeps the adapter beside it, as in training: merging would
            # re-quantise the merged weights and change the answers (and .to() is refused).
            return PeftModel.from_pretrained(model, str(trained)).eval()
        # Merged weights answer exactly like base + adapter, and faster (no extra LoRA
        # matmuls per layer).
        model = PeftModel.from_pretrained(model, str(trained)).merge_and_unload()
        return model.to(load["device"]).eval()
    return load_base(trained, load)   # a full fine-tune: the folder holds it all


def run_system_prompt(cfg) -> str:
    """The system prompt the fine-tune was trained with: the config's, else the one most of
    the training examples carry (for the Modelfile's SYSTEM and the chat)."""
    if cfg.data.system_prompt.strip():
        return cfg.data.system_prompt
    from collections import Counter

    from ft_tui.core.data import load_examples

    try:
        examples = load_examples(resolve_data_path(cfg.data.train_path)).examples
    except (OSError, ValueError):
        return ""
    counts = Counter(m["content"] for ex in examples for m in ex.prompt_messages()
                     if m["role"] == "system")
    return counts.most_common(1)[0][0] if counts else ""

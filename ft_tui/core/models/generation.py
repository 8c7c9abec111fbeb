"""Loading a model for inference and batched greedy generation from chat prompts.

Used by the evaluation (base vs fine-tuned), the merge check and the live samples during
training (core/training/callbacks.py): one greedy decoder for all of them. Heavy libraries are
imported inside the functions so importing this module costs nothing.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

# Used only when a tokenizer ships no chat template (a base, non-instruct model): the same
# ChatML layout most instruct models use, so prompts still have clear turns.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class FourBit:
    """Load the base in 4-bit (NF4) computing in ``compute``: a QLoRA run's base on the card
    that needed QLoRA to train (in 16-bit an 8B base is 15 GiB, more than a T4 has)."""
    compute: Any

    def __str__(self) -> str:   # part of the base-answer cache key
        return f"nf4-{str(self.compute).replace('torch.', '')}"


def inference_device_and_dtype(method: str | None = None) -> tuple[str, Any]:
    """CUDA in native bf16 where the GPU has it (compute capability 8.0+), else fp16, and in
    4-bit for a QLoRA run's base (``method="qlora"``); CPU in fp32 (on CPUs without native bf16
    instructions, AVX512-BF16 or AMX, PyTorch emulates bf16 matmuls and runs them several
    times slower than fp32)."""
    import torch

    from ft_tui.core.models.dtypes import load_dtypes

    plan = load_dtypes(method or "")
    if plan["dtype"] == "float32" and not torch.cuda.is_available():
        return "cpu", torch.float32
    half = getattr(torch, plan["dtype"])
    return "cuda", FourBit(half) if plan["load_in_4bit"] else half


def has_tokenizer(folder: str | os.PathLike) -> bool:
    folder = Path(folder)
    return any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json",
                                                       "tokenizer.model"))


def load_for_inference(model_path: str | os.PathLike, adapter_path: str | os.PathLike | None = None,
                       *, device: str | None = None, dtype: Any = None,
                       trust_remote_code: bool = False):
    """A model in eval mode on ``device``: the plain model at ``model_path``, or that base
    with the PEFT adapter at ``adapter_path`` on top."""
    from transformers import AutoModelForCausalLM

    if device is None or dtype is None:
        device, dtype = inference_device_and_dtype()
    extra: dict[str, Any] = {}
    if isinstance(dtype, FourBit):
        from transformers import BitsAndBytesConfig

        extra = {"quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype.compute), "device_map": {"": 0}}
        dtype = dtype.compute
    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=dtype,
                                                 trust_remote_code=trust_remote_code, **extra)
    if adapter_path is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_path))
    if not extra:   # a 4-bit model is placed by device_map and cannot be moved
        model.to(device)
    model.eval()
    return model


def free_memory() -> None:
    """Return the memory of models no longer referenced (call after dropping the last
    reference), so the next model has room."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def ensure_chat_template(tokenizer) -> bool:
    """Give a template-less tokenizer the ChatML fallback. True when the fallback was used."""
    if getattr(tokenizer, "chat_template", None):
        return False
    tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    return True


def render_prompt(tokenizer, messages: Sequence[dict]) -> str:
    """The prompt text the model sees: chat template with the assistant turn opened."""
    clean = [{"role": m["role"], "content": m["content"]} for m in messages]
    return tokenizer.apply_chat_template(clean, tokenize=False, add_generation_prompt=True)


def generation_batch_size(device: str) -> int:
    """Prompts answered together. On the 2-core CPU, 16 answered 1.54x faster than 8 and
    3.3x faster than 1 at a time, with the same answers (tests/bench/cpu_cheap_wins.py,
    RESULTS.md)."""
    return 32 if device == "cuda" else 16


class GenerationStopped(Exception):
    """``should_stop()`` said stop. Every answer finished before it went to ``on_answer``;
    the answers it cut short are dropped."""


def stop_ids(model, tokenizer) -> list[int]:
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        for i in value if isinstance(value, (list, tuple)) else [value]:
            if i is not None and i not in ids:
                ids.append(int(i))
    return ids


class _Watch:
    """A streamer (transformers calls ``put`` with the prompt, then with each step's new
    token of every row) that reports answers as they reach a stop token and the tokens
    generated, so progress moves per answer, not per batch."""

    def __init__(self, rows: int, stop_ids: list[int], on_done, on_tokens) -> None:
        self.live = [True] * rows
        self.stop = set(stop_ids)
        self.on_done, self.on_tokens = on_done, on_tokens
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:        # the first call carries the prompts
            self.prompt_seen = True
            return
        ids = value.reshape(-1).tolist()
        live = [i for i, alive in enumerate(self.live) if alive]
        ended = [i for i in live if ids[i] in self.stop]
        for i in ended:
            self.live[i] = False
        if self.on_tokens is not None:
            self.on_tokens(len(live))
        if ended and self.on_done is not None:
            self.on_done(len(ended))

    def end(self) -> None:
        pass

    @property
    def still_running(self) -> int:
        return sum(self.live)


def generate_greedy(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int,
                    batch_size: int = 8,
                    on_batch: Callable[[int], None] | None = None,
                    on_answer: Callable[[int, str], None] | None = None,
                    on_tokens: Callable[[int], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> list[str]:
    """Greedy answers for rendered prompts, in order. Prompts are batched by length with left
    padding (so every answer starts right after its prompt) and decoded without special
    tokens. ``on_batch(n)`` is called with the number of answers just finished: as each
    reaches a stop token, and at the end of its batch for those the token limit cut;
    ``on_tokens(n)`` after each decoding step with the tokens it generated;
    ``on_answer(i, answer)`` for each answer of prompt ``i`` as its batch finishes (to keep
    it before the next batch: a crash then loses one batch, not the pass).
    ``should_stop()`` is asked before each batch and after every decoding step; when it
    says stop, :class:`GenerationStopped` is raised within one token, after ``on_answer``
    got the answers of the batch under way that had already reached their stop token."""
    import torch

    if not prompts:
        return []
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    stops = stop_ids(model, tokenizer)
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])  # similar lengths pad less
    answers: list[str] = [""] * len(prompts)
    criteria = _cancel_criteria(should_stop) if should_stop is not None else None
    watching = on_batch is not None or on_tokens is not None or should_stop is not None
    try:
        start = 0
        while start < len(order):
            if should_stop is not None and should_stop():
                raise GenerationStopped
            idx = order[start:start + batch_size]
            # The rendered template already holds any BOS token it wants.
            batch = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(device)
            # no_grad, not inference_mode: the live samples run on the model being trained,
            # and buffers a forward pass creates must stay usable by autograd afterwards.
            watch = _Watch(len(idx), stops, on_batch, on_tokens)
            try:
                with torch.no_grad():
                    out = model.generate(
                        **batch, max_new_tokens=max_new_tokens, do_sample=False,
                        temperature=None, top_p=None, top_k=None,
                        pad_token_id=tokenizer.pad_token_id, eos_token_id=stops or None,
                        stopping_criteria=criteria,
                        streamer=watch if watching else None)
            except (RuntimeError, MemoryError) as exc:
                # Out of memory (the KV cache grows with the answers): the same prompts in
                # half the batch, down to one at a time, before giving up.
                if batch_size == 1 or not _out_of_memory(exc):
                    raise
                del batch
                batch_size //= 2
                free_memory()
                continue
            start += len(idx)
            new_tokens = out[:, batch["input_ids"].shape[1]:]
            stopped = should_stop is not None and should_stop()
            # Rows still running were cut by the stop, unless the batch reached the token
            # limit (then they are whole answers, as without a stop).
            cut = stopped and new_tokens.shape[1] < max_new_tokens
            for row, (i, text) in enumerate(zip(idx, tokenizer.batch_decode(new_tokens,
                                                                          skip_special_tokens=True))):
                if cut and watch.live[row]:
                    continue
                answers[i] = text.strip()
                if on_answer is not None:
                    on_answer(i, answers[i])
            if on_batch is not None and watch.still_running and not cut:   # cut by the limit
                on_batch(watch.still_running)
            if stopped:
                raise GenerationStopped
    finally:
        tokenizer.padding_side = old_side
    return answers


def _out_of_memory(exc: BaseException) -> bool:
    return (isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"
            or "out of memory" in str(exc).lower())


def _cancel_criteria(should_stop: Callable[[], bool]):
    """A stopping criterion that ends every row of the batch once ``should_stop()``."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Cancel(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), bool(should_stop()), dtype=torch.bool,
                              device=input_ids.device)
    return StoppingCriteriaList([_Cancel()])

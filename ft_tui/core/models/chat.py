"""Try a run's model: the base and the fine-tuned model answer the same prompt, streamed.

Both models get the run's system prompt and the tokenizer's chat template, greedy, like
the evaluation. ``stream_reply`` runs ``generate`` in a background thread and hands each
decoded piece to ``on_text`` as it arrives (transformers' ``TextIteratorStreamer``);
callers in a UI run it in a worker and post each piece to the UI thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

SIDES = ("base", "finetuned")
CHAT_MAX_NEW_TOKENS = 256


@dataclass
class ChatSession:
    """Both models of a run, loaded once; the conversation history per side."""

    tokenizer: Any
    models: dict[str, Any]
    system_prompt: str
    max_new_tokens: int = CHAT_MAX_NEW_TOKENS
    history: dict[str, list[dict]] = field(default_factory=lambda: {s: [] for s in SIDES})

    def messages(self, side: str, prompt: str) -> list[dict]:
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return system + self.history[side] + [{"role": "user", "content": prompt}]

    def reply(self, side: str, prompt: str, on_text: Callable[[str], None],
              should_stop: Callable[[], bool] = lambda: False) -> str:
        text = stream_reply(self.models[side], self.tokenizer, self.messages(side, prompt),
                            on_text, max_new_tokens=self.max_new_tokens, should_stop=should_stop)
        self.history[side] += [{"role": "user", "content": prompt},
                               {"role": "assistant", "content": text}]
        return text

    def clear(self) -> None:
        self.history = {s: [] for s in SIDES}


def open_chat(run_dir, log: Callable[[str], None] = lambda msg: None) -> ChatSession:
    """Load the base and the fine-tuned model of a finished run."""
    from ft_tui.core.evaluate.run import EvalError, _load_finetuned
    from ft_tui.core.export.run import run_system_prompt
    from ft_tui.core.models.generation import (ensure_chat_template, has_tokenizer,
                                               inference_device_and_dtype, load_for_inference)
    from ft_tui.core.models.resolve import ModelNotFound, load_tokenizer, prepare_run_model
    from ft_tui.core.run.artifacts import open_run, trained_model_dir

    run = open_run(run_dir)
    trained = trained_model_dir(run)
    cfg = run.load_config()
    try:
        base_path = prepare_run_model(cfg, log=log)
    except ModelNotFound as exc:
        raise EvalError(f"base model: {exc}") from None
    trust = cfg.model.trust_remote_code
    tokenizer = load_tokenizer(trained if has_tokenizer(trained) else base_path, trust)
    ensure_chat_template(tokenizer)
    device, dtype = inference_device_and_dtype(cfg.method)
    load = {"device": device, "dtype": dtype, "trust_remote_code": trust}
    log("loading the base model")
    base = load_for_inference(base_path, **load)
    log("loading the fine-tuned model")
    tuned = _load_finetuned(Path(base_path), trained, load)
    return ChatSession(tokenizer, {"base": base, "finetuned": tuned}, run_system_prompt(cfg),
                       max_new_tokens=cfg.eval.max_new_tokens)


class _Stop(Exception):
    pass


def stream_reply(model, tokenizer, messages: list[dict], on_text: Callable[[str], None], *,
                 max_new_tokens: int = CHAT_MAX_NEW_TOKENS,
                 should_stop: Callable[[], bool] = lambda: False) -> str:
    """Greedy answer to ``messages``, streamed piece by piece to ``on_text``; the full text."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    from ft_tui.core.models.generation import _stop_ids, render_prompt

    prompt = render_prompt(tokenizer, messages)
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(
        next(model.parameters()).device)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True,
                                    timeout=600)

    class Cancel(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return bool(should_stop())

    failure: list[BaseException] = []

    def generate() -> None:
        try:
            with torch.inference_mode():
                model.generate(**inputs, streamer=streamer, max_new_tokens=max_new_tokens,
                               do_sample=False, temperature=None, top_p=None, top_k=None,
                               pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                               eos_token_id=_stop_ids(model, tokenizer) or None,
                               stopping_criteria=StoppingCriteriaList([Cancel()]))
        except BaseException as exc:  # reported on the caller's thread below
            failure.append(exc)
            streamer.end()

    thread = threading.Thread(target=generate, daemon=True, name="ft-tui-chat-generate")
    thread.start()
    pieces: list[str] = []
    for piece in streamer:
        if piece:
            pieces.append(piece)
            on_text(piece)
    thread.join()
    if failure:
        raise failure[0]
    return "".join(pieces).strip()

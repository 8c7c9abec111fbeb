"""Try a run's model: the base and the fine-tuned model answer the same prompt, streamed.

Both models get the run's system prompt and the tokenizer's chat template, greedy, like
the evaluation. ``stream_reply`` runs ``generate`` in a background thread and hands each
decoded piece to ``on_text`` as it arrives (transformers' ``TextIteratorStreamer``);
callers in a UI run it in a worker and post each piece to the UI thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
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
    from ft_tui.core.errors import SetupError
    from ft_tui.core.models.loader import (base_model_folder, inference_settings, load_base,
                                           load_finetuned, run_system_prompt, run_tokenizer)
    from ft_tui.core.run.artifacts import RunError, open_run, trained_model_dir

    run = open_run(run_dir)
    trained = trained_model_dir(run)
    cfg = run.load_config()
    try:
        base_path = base_model_folder(cfg, log=log)
    except SetupError as exc:
        raise RunError(f"base model: {exc}") from None
    tokenizer = run_tokenizer(cfg, base_path, trained).tokenizer
    load = inference_settings(cfg)
    log("loading the base model")
    base = load_base(base_path, load)
    log("loading the fine-tuned model")
    tuned = load_finetuned(base_path, trained, load)
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

    from ft_tui.core.models.generation import render_prompt, stop_ids

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
                               eos_token_id=stop_ids(model, tokenizer) or None,
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

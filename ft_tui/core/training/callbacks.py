"""The TrainerCallback that turns the Trainer's logs into typed events.

It also carries out a stop request (checkpoint first, then stop), stops a diverged run,
and generates a few sample answers now and then. Work per step is a timestamp and a flag
check; everything else happens at logging steps.

With several processes every rank runs this callback so that they take the same decisions
at the same step (a stop request is agreed with one tiny all-reduce); only the main process
emits events.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from transformers import TrainerCallback

from ft_tui.core.run.events import (Checkpoint, EvalLog, Event, Phase, PreferenceLog, RunStarted,
                                    Samples, StepLog, TrainWarning)
from ft_tui.core.training.meter import StepMeter
from ft_tui.core.training.preference_watch import PreferenceWatchdog
from ft_tui.core.training.resume import Carried
from ft_tui.core.training.throughput import TokenTally, flops_per_token, mfu, peak_tflops
from ft_tui.core.training.watchdog import LossWatchdog

SAMPLE_NEW_TOKENS = 48


class EventCallback(TrainerCallback):
    def __init__(self, emit: Callable[[Event], None], stop_requested: Callable[[], bool], *,
                 start_info: dict, tokenizer=None, sample_prompts: list[dict] | None = None,
                 sample_every: int = 0, carried: Carried | None = None, world_size: int = 1,
                 on_progress: Callable[..., None] | None = None,
                 space_check: Callable[[int], str | None] | None = None, eval_rows: int = 0):
        self.emit = emit
        self.space_check = space_check   # step -> why a checkpoint would not fit, or None
        self.start_warnings: list = []
        self.stop_requested = stop_requested
        self.start_info = start_info
        self.tokenizer = tokenizer
        self.sample_prompts = sample_prompts or []
        self.sample_every = sample_every
        self.carried = carried or Carried()
        self.world_size = world_size
        self.on_progress = on_progress
        self.eval_rows = eval_rows             # rows scored per in-training evaluation
        self._eval_batches = 0
        self._phase = ""
        self._saved_step: int | None = None
        self.watchdog = LossWatchdog()
        self.watchdog.train_losses = list(self.carried.train_losses)
        self.watchdog.eval_losses = list(self.carried.eval_losses)
        self.preference_watchdog = PreferenceWatchdog()
        self.meter: StepMeter | None = None
        self.stopped_at: int | None = None     # step of a graceful stop
        self.failure: str | None = None        # cause of a stop for divergence
        self._cuda = False
        self.tally = TokenTally()
        self._peak: float | None = None        # the GPU's dense bf16 TFLOPS, when known
        self._shape = (0, 0)                   # (layers, hidden) for the attention FLOPs

    def watch_batches(self, trainer) -> None:
        """Count every training micro-batch's tokens, padding included, where the Trainer
        counts its non-padding ones (transformers 5: ``Trainer._track_num_input_tokens``).
        Without that hook the run simply reports no padding share."""
        track = getattr(trainer, "_track_num_input_tokens", None)
        if track is None:
            return

        def counted(inputs):
            track(inputs)
            self.tally.add(inputs)

        trainer._track_num_input_tokens = counted

    # ----- lifecycle -------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        import torch

        self._cuda = torch.cuda.is_available()
        if self._cuda:
            self._peak = peak_tflops(torch.cuda.get_device_name(0))
        config = getattr(kwargs.get("model"), "config", None)
        config = getattr(config, "text_config", None) or config
        self._shape = (int(getattr(config, "num_hidden_layers", 0) or 0),
                       int(getattr(config, "hidden_size", 0) or 0))
        self.meter = StepMeter(state.max_steps, start_tokens=state.num_input_tokens_seen,
                               elapsed_before=self.carried.elapsed_s)
        self.emit(RunStarted(total_steps=state.max_steps, start_step=state.global_step,
                             time=time.time(), **self.start_info))
        for warning in self.start_warnings:   # about the whole run: shown with its start
            self.emit(warning)
        if self.on_progress:
            self.on_progress(state.global_step, state.max_steps)

    def on_step_end(self, args, state, control, **kwargs):
        self.meter.step_done()
        if self._agreed_stop():
            # Stop here, at this optimizer step: no evaluation, no samples, just the checkpoint.
            self._stop_with_checkpoint(state, control)
        elif self.sample_every and self.sample_prompts and state.global_step % self.sample_every == 0:
            self._set_phase(state.global_step, "generating samples")
            self._samples(state.global_step, kwargs.get("model"))
            if self.world_size == 1 and self.stop_requested():
                self._stop_with_checkpoint(state, control)
        if control.should_save:
            self._check_space(state, control)
        self._announce(state, control)
        return control

    def on_step_begin(self, args, state, control, **kwargs):
        self._set_phase(state.global_step, "training")
        return control

    def on_prediction_step(self, args, state, control, **kwargs):
        self._eval_batches += 1
        if self.eval_rows:
            done = min(self.eval_rows, self._eval_batches * args.per_device_eval_batch_size)
            self._set_phase(state.global_step, "evaluating", done, self.eval_rows, force=True)
        return control

    def on_evaluate(self, args, state, control, **kwargs):
        self._eval_batches = 0
        self._announce(state, control, after_eval=True)
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.stopped_at is not None or (self.world_size == 1 and self.stop_requested()):
            self._stop_with_checkpoint(state, control)
            if self._saved_step == state.global_step:
                control.should_save = False    # this step's checkpoint is written already
        self._announce(state, control)
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        step = state.global_step
        if "loss" in logs:
            self._train_log(step, logs, state, control)
        elif "eval_loss" in logs:
            loss = float(logs["eval_loss"])
            self.emit(EvalLog(step=step, eval_loss=loss, epoch=logs.get("epoch")))
            self._warn(self.watchdog.on_eval_loss(step, loss))
        self._preference(step, logs)
        # Single process: act on a stop request at the step the user just saw, before
        # this step's save decision is taken.
        if self.world_size == 1 and self.failure is None and self.stop_requested():
            self._stop_with_checkpoint(state, control)
            self._check_space(state, control)
        return control

    def _check_space(self, state, control) -> None:
        """No checkpoint that cannot fit: stop with the reason, the last good one kept."""
        problem = self.space_check(state.global_step) if self.space_check else None
        if problem:
            self.failure = problem
            control.should_save = False
            control.should_training_stop = True

    def on_save(self, args, state, control, **kwargs):
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and path.is_dir():
            from ft_tui.core.training.checkpoint_files import seal_checkpoint

            seal_checkpoint(path)   # on disk, every file, before the save counts as done
        self.emit(Checkpoint(step=state.global_step, path=str(path)))
        self._saved_step = state.global_step
        if self.stopped_at is None:
            self._set_phase(state.global_step, "training")
        if self.on_progress:
            self.on_progress(state.global_step, state.max_steps, force=True)
        return control

    # ----- helpers ---------------------------------------------------------------------
    def _train_log(self, step, logs, state, control):
        loss = float(logs["loss"])
        reading = self.meter.read(step, state.num_input_tokens_seen)
        gpu = None
        if self._cuda:
            import torch

            gpu = torch.cuda.max_memory_allocated() / 2**30
        self.emit(StepLog(
            step=step, loss=loss, learning_rate=_num(logs.get("learning_rate")),
            grad_norm=_num(logs.get("grad_norm")), epoch=_num(logs.get("epoch")),
            tokens_per_s=reading.tokens_per_s, num_tokens=int(state.num_input_tokens_seen),
            eta_s=reading.eta_s, elapsed_s=reading.elapsed_s, gpu_mem_gb=gpu,
            total_steps=state.max_steps, padding_share=self.tally.padding_share,
            mfu=self._mfu(reading.tokens_per_s)))
        alert = self.watchdog.on_train_loss(step, loss)
        self._warn(alert)
        if alert is not None and alert.code == "nan_loss":
            # Nothing to save: the weights are already broken. Every rank sees the same
            # (gathered) loss, so they all stop here together.
            self.failure = alert.message
            control.should_training_stop = True
            control.should_save = False
            control.should_evaluate = False
        if self.on_progress:
            self.on_progress(step, state.max_steps)

    def _preference(self, step: int, logs: dict) -> None:
        """DPO/KTO: TRL logs rewards/{chosen,rejected,margins,accuracies} (eval_ prefixed
        at evaluations)."""
        for prefix, split in (("", "train"), ("eval_", "eval")):
            if f"{prefix}rewards/margins" not in logs:
                continue
            event = PreferenceLog(
                step=step, margin=_num(logs.get(f"{prefix}rewards/margins")),
                accuracy=_num(logs.get(f"{prefix}rewards/accuracies")),
                chosen=_num(logs.get(f"{prefix}rewards/chosen")),
                rejected=_num(logs.get(f"{prefix}rewards/rejected")), split=split)
            self.emit(event)
            if split == "train":
                for alert in self.preference_watchdog.on_log(step, event.margin, event.accuracy):
                    self._warn(alert)

    def _mfu(self, tokens_per_s: float | None) -> float | None:
        if self._peak is None:
            return None
        layers, hidden = self._shape
        per_token = flops_per_token(self.start_info.get("method", "lora"),
                                    int(self.start_info.get("total_params") or 0),
                                    layers=layers, hidden=hidden, seq_len=self.tally.mean_length)
        return mfu(tokens_per_s, per_token, self._peak, self.world_size)

    def _agreed_stop(self) -> bool:
        wanted = self.stop_requested()
        if self.world_size == 1:
            return wanted
        import torch
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            return wanted
        device = "cuda" if self._cuda else "cpu"
        flag = torch.tensor([1 if wanted else 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _stop_with_checkpoint(self, state, control):
        if self.stopped_at is None:
            self.stopped_at = state.global_step
        control.should_save = True
        control.should_training_stop = True
        control.should_evaluate = False    # a stop never waits for an evaluation
        self._set_phase(state.global_step, "saving")

    def _announce(self, state, control, after_eval: bool = False) -> None:
        """The phase that comes next in this step: evaluating, then saving."""
        if control.should_evaluate and not after_eval:
            self._eval_batches = 0
            self._set_phase(state.global_step, "evaluating", 0, self.eval_rows)
        elif control.should_save:
            self._set_phase(state.global_step, "saving")
        elif after_eval:
            self._set_phase(state.global_step, "training")

    def _set_phase(self, step: int, phase: str, done: int = 0, total: int = 0,
                   force: bool = False) -> None:
        """Emit a Phase event when the phase changes (evaluation progress: every batch)."""
        if phase == self._phase and not force:
            return
        self._phase = phase
        self.emit(Phase(step=step, phase=phase, done=done, total=total))

    def _warn(self, alert):
        if alert is not None:
            self.emit(TrainWarning(step=alert.step, code=alert.code, message=alert.message))

    def _samples(self, step: int, model) -> None:
        if model is None or self.tokenizer is None:
            return
        try:
            outputs = generate_answers(model, self.tokenizer,
                                       [p["messages"] for p in self.sample_prompts])
        except (RuntimeError, ValueError, TypeError) as exc:  # a preview must never kill training
            self.sample_every = 0
            self.emit(TrainWarning(step=step, code="samples_failed",
                                   message=f"sample generations turned off: {exc}"))
            return
        self.emit(Samples(step=step, samples=[
            {"prompt": p["messages"][-1]["content"], "output": out, "reference": p["reference"]}
            for p, out in zip(self.sample_prompts, outputs)]))


def generate_answers(model, tokenizer, conversations: list[list[dict]],
                     max_new_tokens: int = SAMPLE_NEW_TOKENS) -> list[str]:
    """Greedy answers from the evaluation's generator (same prompt rendering, stop ids and
    pad fallback); the model goes back to training mode afterwards."""
    from ft_tui.core.models.generation import generate_greedy, render_prompt

    was_training = model.training
    model.eval()
    try:
        prompts = [render_prompt(tokenizer, c) for c in conversations]
        return generate_greedy(model, tokenizer, prompts, max_new_tokens=max_new_tokens,
                               batch_size=max(1, len(prompts)))
    finally:
        if was_training:
            model.train()


def _num(value) -> float | None:
    if value is None:
        return None
    return float(value)  # NaN stays NaN: the grad norm of a diverged step is information

"""How long a training step takes on the CPU, in a plan's words: measured, or an estimate
that says it is one and how it was made (never "a few seconds").

The measurement comes from a run on this machine (core/run/speed.py). Without one, the
estimate scales the one speed ft-tui measured itself:
"""

from __future__ import annotations

from ft_tui.core.run.speed import MeasuredSpeed

# SmolLM2-135M-Instruct (134,515,008 parameters), LoRA r16, trained at 148.9 non-padding
# tokens/s on 2 quiet AMD EPYC cores (tests/bench/RESULTS.md, "Length grouping and bf16,
# end to end: 90 LoRA steps on ticket-triage", 2026-12-07). Training compute per token is
# proportional to the parameters (Kaplan et al. 2020, "Scaling Laws for Neural Language
# Models", section 2.1: 6N for a full fine-tune; 4N with LoRA, whose frozen weights get no
# weight gradients, as core/training/throughput.flops_per_token counts), so another model
# trains at this speed times 135M / its parameters, and a full fine-tune 4/6 as fast.
REFERENCE_TOKENS_PER_S = 148.9
REFERENCE_PARAMS = 134_515_008
REFERENCE = "SmolLM2-135M's measured 149 tokens/s with LoRA on 2 CPU cores"
FULL_VS_LORA_COMPUTE = 6 / 4


def estimated_tokens_per_s(params: int, method: str = "lora") -> float:
    """Tokens/s a CPU like the reference one would train a model of ``params`` at."""
    speed = REFERENCE_TOKENS_PER_S * REFERENCE_PARAMS / max(1, params)
    return speed / FULL_VS_LORA_COMPUTE if method == "full" else speed


def cpu_step_time(params: int, *, batch: int, accumulation: int, length: int,
                  measured: MeasuredSpeed | None, method: str = "lora",
                  typical: float | None = None) -> str:
    """One sentence: the seconds an optimizer step of ``batch`` x ``accumulation`` examples
    takes, measured (``measured``: a run of this model, method and device here) or
    estimated. Both speeds count the tokens trained, not padding, so with ``typical`` (the
    data's median tokens an example) it is about that; without, an upper bound with
    every example ``length`` tokens long."""
    shape = f"batch {batch}" + (f" x accumulation {accumulation}" if accumulation > 1 else "")
    if typical:
        per_example = min(float(typical), float(length))
        tokens = batch * accumulation * per_example
        shape += f" of your data's median {per_example:.0f} tokens"
        bound = "about"
    else:
        tokens = batch * accumulation * length
        shape += f" x {length} tokens"
        bound = "up to"
    if measured is not None:
        return (f"Step time measured on this machine: {bound} "
                f"{_seconds(measured.seconds_for(tokens))} per step at {shape} "
                f"({measured.tokens_per_s:.0f} tokens/s in {measured.run_dir}).")
    seconds = tokens / estimated_tokens_per_s(params, method)
    return (f"Step time estimated, not measured: {bound} {_seconds(seconds)} per step at {shape}, "
            f"scaling {REFERENCE} by parameter count; your CPU may differ, and the first run "
            "here measures it.")


def _seconds(s: float) -> str:
    if s < 10:
        return f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"

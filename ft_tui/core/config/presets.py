"""Named starting points for the run config, as dotted-key overrides.

Values sit inside commonly used ranges: LoRA rank 8-64 (the LoRA paper, Hu et al. 2021,
arXiv:2106.09685, found small ranks enough; the QLoRA paper, arXiv:2305.14314, used 64)
with alpha = 2 x rank (a convention, not a law), learning rate 1e-4..2e-4 for adapters
(QLoRA used 1e-4 and 2e-4), effective batch 4-32, 1-5 epochs, warm-up 5-10 %. These are
ft-tui's starting points, not measurements: RESULTS.md has what was measured.
Apply one with ``cfg.with_overrides(PRESETS[name].overrides)``; a preset never changes
the model, the data paths or the method (the Hardware step chooses that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    overrides: dict[str, Any]


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset(
        "quick_test", "Quick test",
        "30 steps on short sequences to check the pipeline end to end in a minute or two "
        "on CPU, with a checkpoint every 10 steps. Expect a rough model, not a good one.",
        {
            "training.max_steps": 30,
            "training.epochs": 1.0,
            "training.batch_size": 4,
            "training.gradient_accumulation": 1,
            "training.learning_rate": 2e-4,
            "training.warmup_ratio": 0.1,
            "training.eval_steps": 10,
            # A checkpoint at every evaluation: an interrupted quick test resumes, not restarts.
            "training.save_steps": 10,
            "training.sample_every_steps": 10,
            "training.early_stopping_patience": 0,
            "lora.r": 8,
            "lora.alpha": 16,
            "data.max_length": 256,
            "eval.max_examples": 20,
        },
    ),
    Preset(
        "balanced", "Balanced",
        "The usual LoRA recipe: rank 16, learning rate 2e-4, effective batch 16, 3 epochs. "
        "A good first real run on a few hundred to a few thousand examples.",
        {
            "training.max_steps": -1,
            "training.epochs": 3.0,
            "training.batch_size": 4,
            "training.gradient_accumulation": 4,
            "training.learning_rate": 2e-4,
            "training.warmup_ratio": 0.05,
            "training.eval_steps": 20,
            "training.save_steps": 50,
            "training.sample_every_steps": 50,
            "training.early_stopping_patience": 0,
            "lora.r": 16,
            "lora.alpha": 32,
            "lora.dropout": 0.05,
            "eval.max_examples": 100,
        },
    ),
    Preset(
        "quality", "Quality",
        "More adapter capacity (rank 32), a gentler learning rate, effective batch 32, and "
        "early stopping on eval loss. Slower; for complex tasks or larger data sets.",
        {
            "training.max_steps": -1,
            "training.epochs": 3.0,
            "training.batch_size": 4,
            "training.gradient_accumulation": 8,
            "training.learning_rate": 1e-4,
            "training.warmup_ratio": 0.1,
            "training.eval_steps": 25,
            "training.save_steps": 50,
            "training.sample_every_steps": 50,
            "training.early_stopping_patience": 3,
            "lora.r": 32,
            "lora.alpha": 64,
            "lora.dropout": 0.1,
            "eval.max_examples": 0,
        },
    ),
)}

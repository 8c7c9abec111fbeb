"""The training engine: SFT with LoRA, QLoRA or full fine-tuning, reported through events.

Importing this package is cheap (no torch); the heavy libraries load when a run starts.
"""

from ft_tui.core.errors import SetupError
from ft_tui.core.training.runner import TrainingRunner, resume_runner

__all__ = ["TrainingRunner", "resume_runner", "SetupError"]

"""Keep the ML libraries' chatter out of the user's terminal (Textual draws on stderr).

One function for the trainer, the evaluator, the chat and the export: environment defaults
that take effect when a library is first imported, plus the loggers of libraries that talk
on import (bitsandbytes on a CPU with AVX512-BF16 asks the `kernels` package for a hub
kernel and logs that it could not verify or fetch it; model downloads are core/models/hub.py's,
with their own progress).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings


def quiet_libraries() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("bitsandbytes", "kernels"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # Libraries already imported read no environment any more: tell them directly.
    if "transformers" in sys.modules:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    if "datasets" in sys.modules:
        import datasets

        datasets.disable_progress_bars()
    # Deprecation notices about the libraries' own internals mean nothing to a user.
    warnings.filterwarnings("ignore", category=FutureWarning,
                            module=r"(transformers|trl|peft|accelerate|torch|datasets)(\.|$)")
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")

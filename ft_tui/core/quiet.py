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
    # The libraries' usage pings to the Hub: network traffic in a run on a local model.
    if "HF_HUB_DISABLE_TELEMETRY" not in os.environ:
        os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
        if "huggingface_hub.constants" in sys.modules:
            sys.modules["huggingface_hub.constants"].HF_HUB_DISABLE_TELEMETRY = True
    for name in ("bitsandbytes", "kernels"):
        logging.getLogger(name).setLevel(logging.ERROR)
    _bitsandbytes_without_hub()
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


def _bitsandbytes_without_hub() -> None:
    """bitsandbytes, on a CPU with AVX512-BF16, asks the Hub for an optional 4-bit CPU kernel
    (``kernels.get_kernel`` in bitsandbytes/backends/cpu/ops.py) the moment peft or
    transformers import it, whatever the model: network calls in a run on a local folder
    (about 3.5 s here, where the hub's name does not resolve; longer where packets are
    dropped). So it is imported once here, before them, with the hub client told it is
    offline for that one import; the user's own setting is put back at once, and model
    downloads (core/models/hub.py) set the client themselves. Without the kernel,
    bitsandbytes uses its own CPU code for 4-bit matmuls."""
    import importlib.util

    if "bitsandbytes" in sys.modules or importlib.util.find_spec("bitsandbytes") is None:
        return
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        import bitsandbytes  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken bitsandbytes is reported where QLoRA needs it
        pass
    finally:
        constants.HF_HUB_OFFLINE = before

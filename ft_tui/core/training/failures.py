"""Turning an exception into one line a person can act on.

The full traceback goes to ``run_dir/error.log`` (for a bug report), never to the screen.
An out-of-memory failure comes with advice: from the memory planner when it is available,
otherwise from the run's own settings.
"""

from __future__ import annotations

import time
import traceback

from ft_tui.core.run.rundir import RunDir

ERROR_LOG = "error.log"


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    if name == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}"


def log_traceback(run_dir: RunDir, exc: BaseException) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    with open(run_dir.path / ERROR_LOG, "a", encoding="utf-8") as fh:
        fh.write(f"--- {stamp}\n{text}\n")


def oom_advice(cfg) -> str:
    planned = _planner_advice(cfg)
    return planned or generic_oom_advice(cfg)


def generic_oom_advice(cfg) -> str:
    t = cfg.training
    tips = []
    if t.batch_size > 1:
        tips.append(f"lower training.batch_size to {t.batch_size // 2} and raise "
                    f"training.gradient_accumulation to {t.gradient_accumulation * 2} "
                    "(same effective batch)")
    if not t.gradient_checkpointing:
        tips.append("turn on training.gradient_checkpointing")
    if cfg.data.max_length > 256:
        tips.append(f"shorten data.max_length to {cfg.data.max_length // 2}")
    if cfg.method != "qlora":
        tips.append("use --method qlora (4-bit base, CUDA)")
    if not tips:
        tips.append("use a smaller model or a GPU with more memory")
    return "Try: " + "; ".join(tips) + "."


def _planner_advice(cfg) -> str:
    """Settings the memory planner says would fit, or '' when it cannot say. Planned from what
    the card will have once this process lets go: its total minus other processes' memory
    (the failed process still holds its own at this point), for the run's own objective."""
    try:
        from ft_tui.core.plan import hardware
        from ft_tui.core.plan.model_profile import model_profile
        from ft_tui.core.plan.preflight import settings_changes
        from ft_tui.core.plan.recommend import recommend
    except ImportError:
        return ""
    try:
        hw = hardware.probe(cfg.output_dir)
        hw.gpus = [_after_this_process(g) for g in hw.gpus]
        rec = recommend(hw, model_profile(cfg.model.name), max_length=cfg.data.max_length,
                        objective=cfg.objective)
    except Exception as exc:  # advice is best effort: the run already failed for its own reason
        return f"(memory planner unavailable: {one_line(exc, 120)}) " + generic_oom_advice(cfg)
    if not rec.fits:
        return "The memory planner finds no setting that fits this machine: " + \
            "; ".join(rec.alternatives[:3] or rec.reasons[:2])
    changes = settings_changes(cfg, rec.settings)
    if not changes:
        return generic_oom_advice(cfg)
    return "The memory planner suggests: " + ", ".join(changes) + "."


def _after_this_process(gpu):
    """``gpu`` as it will be when this process exits: NVML's list of other processes where
    it has one, else the free memory plus what torch has reserved here."""
    from dataclasses import replace

    if gpu.other_processes_gb is not None:
        return replace(gpu, free_gb=max(0.0, gpu.total_gb - gpu.other_processes_gb))
    import sys

    torch = sys.modules.get("torch")
    held = 0.0
    if torch is not None and torch.cuda.is_available():
        try:
            held = sum(torch.cuda.memory_reserved(i) for i in range(torch.cuda.device_count())) / 1024 ** 3
        except RuntimeError:
            held = 0.0
    return replace(gpu, free_gb=min(gpu.total_gb, gpu.free_gb + held))

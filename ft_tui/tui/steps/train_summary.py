"""The Train step's text above its buttons: what will be trained, on which data, and what
the run will do on this machine (the preflight)."""

from __future__ import annotations

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.paths import resolve_data_path, shown_path


def config_summary(cfg: RunConfig) -> str:
    """What is trained for how long, then the whole path of the training and the eval data
    (relative to the working folder when inside it), so a train set paired with another
    file's eval split shows at a glance."""
    t = cfg.training
    length = f"{t.max_steps} steps" if t.max_steps > 0 else f"{t.epochs:g} epochs"
    method = cfg.method + (f" r={cfg.lora.r}" if cfg.method in ("lora", "qlora") else "")
    if cfg.objective != "sft":      # DPO/KTO: say so, with the setting that matters most
        method = f"{cfg.objective.upper()} (beta {cfg.preference.beta:g}), {method}"
    held_out = (shown_path(resolve_data_path(cfg.data.eval_path)) if cfg.data.eval_path
                else f"{cfg.data.eval_fraction:.0%} split off the training data")
    return (f"{method} on {cfg.model.name} · {length} · batch {t.batch_size}×{t.gradient_accumulation} · "
            f"lr {t.learning_rate:g} · eval every {t.eval_steps or 'epoch'} · checkpoint every "
            f"{t.save_steps} · into {cfg.output_dir}/\n"
            f"train data: {shown_path(resolve_data_path(cfg.data.train_path))}\n"
            f"eval data:  {held_out}")


def preflight_line(cfg: RunConfig) -> str:
    """What Start would do on this machine (core/plan/preflight.py, as `ft-tui train
    --dry-run` says it); imports torch, so the step asks it on a worker thread."""
    from ft_tui.core.plan.preflight import preflight

    try:
        return preflight(cfg).summary_line()
    except Exception as exc:  # noqa: BLE001 - a preflight that fails must not stop the step
        return f"Preflight: could not check this machine ({type(exc).__name__}: {exc})"

"""Text and numbers for the training dashboard (no Textual): durations, the memory gauge,
the sample generations pane, and the thinning of a curve to what a plot can show."""

from __future__ import annotations

import math

from rich.text import Text

from ft_tui.core.run.events import Samples

MAX_PLOTTED_POINTS = 1500   # what a terminal-wide plot can show; the lists keep everything


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _thin(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Finite points, evenly thinned to what a plot can show (the last point always kept)."""
    finite = [(x, y) for x, y in points if y is not None and math.isfinite(y)]
    if len(finite) <= MAX_PLOTTED_POINTS:
        return finite
    stride = math.ceil(len(finite) / MAX_PLOTTED_POINTS)
    thinned = finite[::stride]
    if thinned[-1] != finite[-1]:
        thinned.append(finite[-1])
    return thinned


def gpu_total_gb() -> float | None:
    """Total memory of GPU 0 through NVML (no torch), or None without a usable GPU."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            return pynvml.nvmlDeviceGetMemoryInfo(handle).total / 1024**3
        finally:
            pynvml.nvmlShutdown()
    except pynvml.NVMLError:
        return None


def memory_gauge(used_gb: float | None, total_gb: float | None, width: int = 12) -> str:
    if used_gb is None:
        return "memory: CPU"   # short: the stats line fits 80 columns
    if not total_gb:
        return f"GPU mem {used_gb:.1f} GB"
    share = min(1.0, used_gb / total_gb)
    filled = round(share * width)
    return f"GPU mem {'█' * filled}{'░' * (width - filled)} {used_gb:.1f}/{total_gb:.0f} GB"



def samples_text(event: Samples | None) -> Text | str:
    if event is None:
        return "no samples yet"
    text = Text()
    text.append(f"step {event.step}\n", style="bold")
    for sample in event.samples:
        text.append("prompt: ", style="bold")
        text.append(f"{sample.get('prompt', '')}\n")
        text.append("model:  ", style="bold")
        text.append(f"{sample.get('output', '') or '(empty)'}\n")
        if sample.get("reference"):
            text.append("wanted: ", style="bold")
            text.append(f"{sample['reference']}\n")
        text.append("\n")
    return text

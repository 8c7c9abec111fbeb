"""Where bundled files live, so the defaults work from any working directory."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DATA_DIR = PROJECT_ROOT / "sample_data"


def resolve_data_path(path: str | os.PathLike) -> Path:
    """A relative path is looked up in the working directory first, then in the project
    (so `sample_data/...` defaults work wherever ft-tui is started)."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p
    bundled = PROJECT_ROOT / p
    return bundled if bundled.exists() else p


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as a message shows it: relative to the working folder when it lies inside
    it (shorter, and what the user typed), else absolute. Stored paths stay absolute."""
    p = Path(path).expanduser().absolute()
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)

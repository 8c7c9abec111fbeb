"""The wizard's progress file (``ft-tui.wizard.json`` beside ``ft-tui.yaml``).

The wizard writes it (tui/state.py); `ft-tui eval` reads the prompted baseline the
Decide step measured from it, so the CLI and the wizard judge a fine-tune against the
same bar. One reader for both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "ft-tui.yaml"


class WizardFileDamaged(ValueError):
    """The progress file exists but is not what the wizard writes."""


def wizard_file_for(config_path: str | Path) -> Path:
    """Where the wizard keeps its progress for this config: ``NAME.wizard.json``."""
    path = Path(config_path)
    return path.with_name(path.stem + ".wizard.json")


def read_wizard_file(path: str | Path) -> dict[str, Any]:
    """The file's fields with their types checked: ``current_step`` (str or None),
    ``completed`` (list of str), ``run_dir`` (str or None), ``decide_answers``
    ([question id, yes]), ``baseline`` (BaselineResult.to_dict() without the examples, or
    None), ``data_tokens`` (see :func:`remembered_token_stats`, or None). Raises FileNotFoundError when there is none and WizardFileDamaged when it
    cannot be read as one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        step, run_dir, baseline, tokens = (data.get(k) for k in (
            "current_step", "run_dir", "baseline", "data_tokens"))
        return {
            "current_step": step if isinstance(step, str) else None,
            "completed": [str(s) for s in data.get("completed", [])],
            "run_dir": run_dir if isinstance(run_dir, str) else None,
            "decide_answers": [[str(q), bool(a)] for q, a in data.get("decide_answers") or []],
            "baseline": baseline if isinstance(baseline, dict) else None,
            "data_tokens": tokens if isinstance(tokens, dict) else None,
        }
    except FileNotFoundError:
        raise
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise WizardFileDamaged(f"{path} is damaged ({type(exc).__name__})") from exc


def token_stats_record(data_path: str | Path, model: str, tokens: dict[str, Any]) -> dict[str, Any]:
    """What the wizard keeps of the Data step's token lengths, so that a relaunched wizard
    plans max_length from the data without inspecting it again: the statistics, and what
    they were measured on (the file as it was, the model's tokenizer)."""
    stat = Path(data_path).stat()
    return {"path": str(Path(data_path).resolve()), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns, "model": model, "tokens": tokens}


def remembered_token_stats(record: dict[str, Any] | None, data_path: str | Path | None,
                           model: str) -> dict[str, Any] | None:
    """The kept token statistics when they were measured on this very file (same size and
    modification time) with this model's tokenizer; None otherwise."""
    if not record or not data_path:
        return None
    try:
        stat = Path(data_path).stat()
        same = (record.get("path") == str(Path(data_path).resolve())
                and record.get("size") == stat.st_size
                and record.get("mtime_ns") == stat.st_mtime_ns and record.get("model") == model)
    except OSError:
        return None
    tokens = record.get("tokens")
    return tokens if same and isinstance(tokens, dict) else None

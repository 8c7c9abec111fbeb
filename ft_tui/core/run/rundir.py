"""The run directory: the single source of truth for one training run.

    <output_dir>/<run_name>/
        config.yaml        the RunConfig this run used (atomic write)
        status.json        {"state": running|stopped|failed|done, "step", "total_steps", ...}
        metrics.jsonl      one event per line (see events.py); every line has "type" and "step"
        checkpoints/       resumable Trainer checkpoints (checkpoint-<step>/)
        adapter/           the final PEFT adapter (lora/qlora) or model (full)
        eval.json          base vs fine-tuned metrics and per-example answers
        report.md          human-readable summary
        export/            what `ft-tui export` writes by default: adapter/ (or model/),
                           merged/ (with --merge), config.yaml, train_standalone.py

The trainer writes; the dashboard and ``ft-tui monitor`` only read.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ft_tui.core.atomic import atomic_write_json
from ft_tui.core.run.events import Event, event_from_dict

STATES = ("created", "running", "stopped", "failed", "done")


class RunDirError(ValueError):
    pass


@dataclass(frozen=True)
class RunDir:
    path: Path

    # --- layout ---
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def adapter_dir(self) -> Path:
        return self.path / "adapter"

    @property
    def eval_path(self) -> Path:
        return self.path / "eval.json"

    @property
    def report_path(self) -> Path:
        return self.path / "report.md"

    @property
    def export_dir(self) -> Path:
        """Where ``ft-tui export`` and the wizard's export buttons write by default."""
        return self.path / "export"

    # --- create / open ---
    @classmethod
    def create(cls, output_dir: str | os.PathLike, name: str) -> "RunDir":
        base = Path(output_dir)
        path = base / name
        n = 2
        while path.exists():  # never reuse (and so never overwrite) an existing run
            path = base / f"{name}-{n}"
            n += 1
        path.mkdir(parents=True)
        return cls(path)

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunDir":
        p = Path(path)
        if not p.is_dir():
            raise RunDirError(f"{p}: no such run directory")
        if not (p / "config.yaml").is_file():
            raise RunDirError(f"{p}: not a run directory (no config.yaml)")
        return cls(p)

    # --- config ---
    def load_config(self):
        from ft_tui.core.config.settings import RunConfig

        return RunConfig.load(self.config_path)

    def save_config(self, cfg) -> None:
        cfg.save(self.config_path)

    # --- status ---
    def read_status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {"state": "created"}

    def write_status(self, state: str, **extra: Any) -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        data = {**self.read_status(), **extra, "state": state, "updated": time.time(), "pid": os.getpid()}
        atomic_write_json(self.status_path, data)

    # --- metrics ---
    def append_event(self, event: Event | dict[str, Any]) -> None:
        data = event.to_dict() if isinstance(event, Event) else event
        line = json.dumps(data, ensure_ascii=False, default=_json_default)
        # One write() per line in append mode: a reader never sees half a line from us,
        # and a crash loses at most the line being written.
        with open(self.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def read_events(self) -> list[Event]:
        return [e for e in (event_from_dict(d) for d in self.iter_metric_dicts()) if e is not None]

    def iter_metric_dicts(self) -> Iterator[dict[str, Any]]:
        try:
            fh = open(self.metrics_path, encoding="utf-8")
        except FileNotFoundError:
            return
        with fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # partial last line, still being written
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue

    # --- checkpoints ---
    def latest_checkpoint(self) -> Path | None:
        best: tuple[int, Path] | None = None
        if not self.checkpoints_dir.is_dir():
            return None
        for child in self.checkpoints_dir.iterdir():
            m = re.fullmatch(r"checkpoint-(\d+)", child.name)
            if m and child.is_dir() and (child / "trainer_state.json").is_file():
                step = int(m.group(1))
                if best is None or step > best[0]:
                    best = (step, child)
        return best[1] if best else None


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def default_run_name(cfg) -> str:
    from ft_tui.core.models.resolve import resolve_model, ModelNotFound

    try:
        model = resolve_model(cfg.model.name).display
    except ModelNotFound:
        model = Path(cfg.model.name).name or "model"
    model = re.sub(r"[^A-Za-z0-9._-]+", "-", model)[:40]
    objective = getattr(cfg, "objective", "sft")
    prefix = cfg.method if objective == "sft" else f"{objective}-{cfg.method}"
    return f"{prefix}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"

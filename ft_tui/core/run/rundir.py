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
from ft_tui.core.run.data_hashes import data_files_of, differences, record_of
from ft_tui.core.run.events import BadEvent, Event, decode_event

STATES = ("created", "running", "stopped", "failed", "done")
_STATUS_TYPES: dict[str, Any] = {"state": str, "step": int, "total_steps": int, "pid": int,
                                 "updated": (int, float), "message": str, "advice": str}


class RunDirError(ValueError):
    pass


def _data_keys(cfg):
    return [(key, value) for key, value in (("data.train_path", cfg.data.train_path),
                                            ("data.eval_path", cfg.data.eval_path))
            if value.strip()]


def data_record(cfg) -> dict[str, dict[str, Any]]:
    """{key: record} of each data path of ``cfg`` as it is now (core/run/data_hashes.py:
    one file's sha256 and size, or a folder's or glob's files one by one)."""
    from ft_tui.core.paths import resolve_data_path

    record = {}
    for key, value in _data_keys(cfg):
        entry = record_of(resolve_data_path(value))
        if entry is not None:
            record[key] = entry
    return record


def _other(was: dict[str, Any], now: dict[str, Any]) -> str:
    if now.get("files") or was.get("files"):
        return f"here: {differences(was, now)}"
    return f"this file: {now['bytes']} bytes, another sha256"


def check_writable_folder(folder: str | os.PathLike, key: str) -> None:
    """RunDirError when ``folder`` (or the folder it would be made in) is a file or cannot be
    written to: said before anything is created there."""
    at = Path(folder).absolute()
    while not at.exists() and at != at.parent:
        at = at.parent
    if not at.is_dir():
        raise RunDirError(f"{key}: {at} is a file, not a folder; pass --output-dir DIR")
    if not os.access(at, os.W_OK | os.X_OK):
        raise RunDirError(f"{key}: cannot write to {at} (read-only or not yours); pass "
                          "--output-dir DIR with a folder you can write to")


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
        if not name or Path(name).name != name or name in (".", ".."):
            raise RunDirError(f"run name {name!r}: must be a plain folder name (no '/' or '..')")
        check_writable_folder(base, "output_dir")
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
        """Data paths are stored absolute, so a resume reads the same files whatever folder
        it is started from (a relative path or glob would be looked up again from there). A path
        into ft-tui's own sample data stays as written: it is found from anywhere."""
        from ft_tui.core.paths import PROJECT_ROOT, resolve_data_path

        overrides = {}
        for key, value in (("data.train_path", cfg.data.train_path),
                           ("data.eval_path", cfg.data.eval_path)):
            path = resolve_data_path(value) if value.strip() else None
            if (path is not None and (path.exists() or data_files_of(path) is not None)
                    and not Path(value).is_absolute()
                    and path.resolve() != (PROJECT_ROOT / value).resolve()):
                overrides[key] = str(path.resolve())
        cfg = cfg.with_overrides(overrides) if overrides else cfg
        cfg.save(self.config_path)
        self._record_data(cfg)

    # --- the data a run was started on ---
    @property
    def data_hashes_path(self) -> Path:
        return self.path / "data_hashes.json"

    def _record_data(self, cfg) -> None:
        """``data_hashes.json``: {key: record} of each data path (core/run/data_hashes.py), so
        a resume or an evaluation notices other data, and a moved file is checked."""
        atomic_write_json(self.data_hashes_path, data_record(cfg))

    def data_hashes(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.data_hashes_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, dict)
                and isinstance(v.get("sha256"), str)} if isinstance(data, dict) else {}

    def check_data(self, cfg, moved: dict[str, str] | None = None):
        """The config to resume with: ``moved`` ({"data.train_path": new path}) replaces a
        data path after checking it holds the same bytes the run started on (a folder or
        glob: the same files, by name and content). Raises RunDirError (one line) when the
        data differs, cannot be checked, or is gone."""
        from ft_tui.core.config.names import shell_quote
        from ft_tui.core.paths import resolve_data_path, shown_path

        moved = {k: v for k, v in (moved or {}).items() if v}
        flags = {"data.train_path": "--data", "data.eval_path": "--eval-data"}
        recorded = self.data_hashes()
        for key, new in moved.items():
            path = resolve_data_path(new)
            now = record_of(path)
            if now is None:
                raise RunDirError(f"{flags[key]}: {new!r} is not a file (nor a folder or glob "
                                  "with data files)")
            was = recorded.get(key)
            if was is None:
                raise RunDirError(f"{flags[key]}: this run recorded no hash of its {key} (started "
                                  "by an older ft-tui or without that file), so "
                                  f"{shown_path(path)} cannot be checked against it; start a new run")
            if now["sha256"] != was["sha256"]:
                raise RunDirError(
                    f"{flags[key]}: {shown_path(path)} is not the data this run started on "
                    f"({was.get('path')}: sha256 {was['sha256'][:12]}…, {was.get('bytes')} bytes; "
                    f"{_other(was, now)}); resuming would train on other data: start a new run "
                    "with it instead")
        if moved:
            cfg = cfg.with_overrides({k: str(resolve_data_path(v).resolve()) for k, v in moved.items()})
        for key, value in _data_keys(cfg):
            if data_files_of(resolve_data_path(value)) is None:
                raise RunDirError(
                    f"{key}: {value} is not there any more (moved or deleted?); resume with "
                    f"`ft-tui train --resume {shell_quote(shown_path(self.path))} {flags[key]} NEW_PATH`, "
                    "the same file from its new place")
        changed = self.data_changes(cfg)
        if changed:
            raise RunDirError(
                "; ".join(changed) + ": resuming would train on other data than the checkpoint "
                "saw. Put the original file back, or start a new run with this one")
        return cfg

    def data_changes(self, cfg) -> list[str]:
        """One line per data path whose bytes differ from what data_hashes.json recorded
        at the start (rewritten in place; for a folder or glob, naming the files that
        changed, appeared or went); paths without a record or gone are not named."""
        from ft_tui.core.paths import resolve_data_path, shown_path

        recorded = self.data_hashes()
        lines = []
        for key, value in _data_keys(cfg):
            path, was = resolve_data_path(value), recorded.get(key)
            if was is None:
                continue
            if not was.get("files") and path.is_file() and path.stat().st_size != was.get("bytes"):
                now = {"bytes": path.stat().st_size}   # one file: its size tells, no hashing
            else:
                now = record_of(path)
                if now is None or now["sha256"] == was["sha256"]:
                    continue
            lines.append(f"{key}: {shown_path(path)} changed since the run started "
                         f"({differences(was, now)})")
        return lines

    # --- status ---
    def read_status(self) -> dict[str, Any]:
        """status.json as a dict whose "state" is one of STATES; a missing, damaged or
        hand-edited file reads as {"state": "created"} (wrongly typed fields are dropped)."""
        try:
            data = json.loads(self.status_path.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError, RecursionError):
            return {"state": "created"}
        if not isinstance(data, dict):
            return {"state": "created"}
        clean = {k: v for k, v in data.items() if _STATUS_TYPES.get(k, object) is object
                 or (isinstance(v, _STATUS_TYPES[k]) and not isinstance(v, bool))}
        if clean.get("state") not in STATES:
            clean["state"] = "created"
        return clean

    def read_state(self) -> str:
        """The run's state as a user should hear it: ``interrupted`` when status.json says
        running but its process is gone (kill -9, a crash, a reboot): resumable."""
        from ft_tui.core.process import process_alive

        status = self.read_status()
        state = status["state"]
        if state == "running" and not process_alive(status.get("pid")):
            return "interrupted"
        return state

    def write_status(self, state: str, **extra: Any) -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        data = {**self.read_status(), **extra, "state": state, "updated": time.time(), "pid": os.getpid()}
        try:
            atomic_write_json(self.status_path, data)
        except OSError as exc:   # a full disk: the run's reserve makes room for this small file
            from ft_tui.core.space import give_back_reserve, is_disk_full

            if not (is_disk_full(exc) and give_back_reserve(self.path)):
                raise
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
        return self.read_events_counted()[0]

    def read_events_counted(self) -> tuple[list[Event], int]:
        """(the valid events, how many lines were skipped: not JSON, or mistyped)."""
        events: list[Event] = []
        bad = 0
        for line in self._complete_lines():
            try:
                event = decode_event(json.loads(line))
            except (ValueError, BadEvent, RecursionError):   # JSONDecodeError is a ValueError
                bad += 1
                continue
            if event is not None:
                events.append(event)
        return events, bad

    def iter_metric_dicts(self) -> Iterator[dict[str, Any]]:
        """The raw records of valid events (mistyped or damaged lines are skipped)."""
        for line in self._complete_lines():
            try:
                data = json.loads(line)
                if decode_event(data) is not None:
                    yield data
            except (ValueError, BadEvent, RecursionError):
                continue

    def _complete_lines(self) -> Iterator[str]:
        try:
            fh = open(self.metrics_path, encoding="utf-8", errors="replace")
        except OSError:
            return
        with fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # partial last line, still being written
                if line.strip():
                    yield line

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

"""On-disk cache of base-model answers, so a second evaluation skips the base model.

The base model does not change between runs on the same data, so its greedy answer to a
prompt is fixed by (model identity, rendered prompt, generation settings). One JSONL file
per model under ``<cache>/base_answers/``; each line is ``{"key": ..., "answer": ...}``.
Lines are appended one write at a time; a torn last line (kill -9) is skipped on reading.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from ft_tui.core.models.resolve import cache_dir

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")


def model_identity(folder: str | os.PathLike) -> str:
    """A short hash of a model folder's path and its config/weight files' names, sizes and
    modification times: re-saving the model changes it, reading it does not."""
    folder = Path(folder).resolve()
    parts = [str(folder)]
    if folder.is_dir():
        for child in sorted(folder.iterdir()):
            if child.is_file() and child.name.endswith(_WEIGHT_SUFFIXES):
                st = child.stat()
                parts.append(f"{child.name}:{st.st_size}:{int(st.st_mtime)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class AnswerCache:
    """Answers of one model, keyed by prompt and generation settings."""

    def __init__(self, model_folder: str | os.PathLike, settings: dict[str, Any],
                 root: Path | None = None):
        folder = Path(model_folder)
        label = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.name)[:40] or "model"
        self.path = (root or cache_dir() / "base_answers") / f"{label}-{model_identity(folder)}.jsonl"
        self._settings = json.dumps(settings, sort_keys=True)
        self._answers: dict[str, str] | None = None

    def key(self, prompt: str) -> str:
        return hashlib.sha256(f"{self._settings}\n{prompt}".encode()).hexdigest()

    def _load(self) -> dict[str, str]:
        if self._answers is None:
            self._answers = {}
            try:
                with open(self.path, encoding="utf-8") as fh:
                    for line in fh:
                        try:
                            row = json.loads(line)
                            self._answers[row["key"]] = row["answer"]
                        except (json.JSONDecodeError, KeyError, TypeError):
                            continue  # a torn or foreign line: that answer is regenerated
            except FileNotFoundError:
                pass
        return self._answers

    def get(self, prompt: str) -> str | None:
        return self._load().get(self.key(prompt))

    def put(self, prompt: str, answer: str) -> None:
        key = self.key(prompt)
        self._load()[key] = answer
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"key": key, "answer": answer}, ensure_ascii=False) + "\n")


def base_answer_cache(base_path: Path, max_new_tokens: int, device: str, dtype) -> AnswerCache:
    """The cache of the base model's greedy answers: the evaluation and the Decide step's
    baseline (core/evaluate/baseline.py) share it, so neither computes an answer twice."""
    return AnswerCache(base_path, {"max_new_tokens": max_new_tokens, "decoding": "greedy",
                                   "device": device, "dtype": str(dtype)})

"""Completion for file paths in an ``Input``: type a few letters, press → to accept."""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester

DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".txt", ".parquet")


class PathSuggester(Suggester):
    """Suggests the first folder or data file in the typed folder whose name starts with
    what was typed after the last slash. Folders come first and end with '/'."""

    def __init__(self, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> None:
        # No cache: the file system changes (e.g. a cleaned file was just written).
        super().__init__(use_cache=False, case_sensitive=True)
        self.suffixes = suffixes

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        head, _, prefix = value.rpartition(os.sep)
        folder = Path(os.path.expanduser(head + os.sep if head or value.startswith(os.sep)
                                         else "."))
        try:
            entries = sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name))
        except OSError:
            return None
        for entry in entries:
            if not entry.name.startswith(prefix) or entry.name.startswith(".") and not prefix:
                continue
            if entry.is_dir():
                return value + entry.name[len(prefix):] + os.sep
            if entry.suffix.lower() in self.suffixes:
                return value + entry.name[len(prefix):]
        return None

"""Following a run directory from outside the training process.

``JsonlFollower`` reads the complete lines appended to a JSONL file (``metrics.jsonl``)
since the last call. It polls the file's size and reads from the byte offset it reached,
so a reader that leaves and comes back loses nothing; a file that was replaced (new inode,
e.g. an atomic rewrite on resume) or cut shorter is read again from the start and the
caller is told to drop what it has shown. Used by ``ft-tui monitor`` and by the launcher
that follows ``accelerate launch`` workers (core/training/launch.py).

``process_alive`` is the one answer to "is the process named in status.json still there?".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

READ_AT_MOST = 4 * 1024 * 1024   # per poll, so a huge history never freezes a screen


class JsonlFollower:
    """Reads the complete lines appended to a JSONL file since the last call."""

    def __init__(self, path: str | os.PathLike, read_at_most: int = READ_AT_MOST):
        self.path = Path(path)
        self.read_at_most = read_at_most
        self.offset = 0
        self._inode: int | None = None
        self.caught_up = False
        self.bad_lines = 0        # lines that are no JSON object (counted again after a rewind)

    def skip_to_end(self) -> None:
        """Treat what is in the file now as already read (only later lines are new)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.offset, self._inode = 0, None
            return
        self.offset, self._inode = st.st_size, st.st_ino

    def poll(self) -> tuple[bool, list[dict[str, Any]]]:
        """(whether the file was replaced or cut, so everything shown must be dropped;
        the new records). A damaged line is skipped; a partial last line waits."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            rewound = self.offset > 0
            self.offset, self._inode, self.caught_up = 0, None, True
            return rewound, []
        rewound = self._inode is not None and (st.st_ino != self._inode or st.st_size < self.offset)
        if rewound:
            self.offset = self.bad_lines = 0
        self._inode = st.st_ino
        if st.st_size <= self.offset:
            self.caught_up = True
            return rewound, []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read(min(st.st_size - self.offset, self.read_at_most))
        end = chunk.rfind(b"\n")
        if end < 0:  # only a partial line so far: the writer is mid-line
            self.caught_up = True
            return rewound, []
        complete = chunk[: end + 1]
        self.offset += len(complete)
        self.caught_up = self.offset >= st.st_size
        records = []
        for line in complete.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                record = None    # a damaged line must not hide the rest of the run
            if isinstance(record, dict):
                records.append(record)
            else:
                self.bad_lines += 1
        return rewound, records

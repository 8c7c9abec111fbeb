"""What a run name may be: one folder name that a shell, a terminal and the file system
all take as it is.

A name with a newline or another control character would break the printed
``Next: ft-tui eval runs/NAME`` line (and let a pasted line run a second command); a name
longer than the file system allows would fail deep inside training with "File name too
long". Both are refused where the name is set, with what to change. Printed commands
still quote every path (:func:`shell_quote`), since a folder name may hold spaces or
``$``.
"""

from __future__ import annotations

import shlex
import unicodedata

NAME_MAX = 255     # bytes in one file name on ext4, xfs, btrfs, APFS and NTFS (UTF-16 units)
SUFFIX_ROOM = 8    # RunDir.create adds "-2", "-3"… rather than reuse a folder


def run_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a run folder's name, or None."""
    if not name:
        return None
    if name in (".", "..") or "/" in name or "\\" in name:
        return (f"run_name: {name!r} is not a plain folder name; use letters, digits, '-', '_' "
                "or '.' without '/' (the run goes to output_dir/run_name)")
    for i, ch in enumerate(name):
        if ch == "\0" or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return (f"run_name: {name!r} holds a control character ({ch!r} at position {i + 1}); "
                    "use letters, digits, '-', '_' or '.'")
    size = len(name.encode("utf-8", errors="surrogatepass"))
    if size > NAME_MAX - SUFFIX_ROOM:
        return (f"run_name: {size} bytes long, but a folder name may be at most "
                f"{NAME_MAX - SUFFIX_ROOM} bytes (the file system allows {NAME_MAX}); "
                "choose a shorter name")
    return None


def shell_quote(path) -> str:
    """A path as a command line in a message must show it: pasted, it is one argument."""
    return shlex.quote(str(path))

"""Pick a data file from a directory tree (the alternative to typing a path)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Label

from ft_tui.tui.widgets.path_suggester import DATA_SUFFIXES


class DataTree(DirectoryTree):
    """Folders and data files only; hidden entries are left out."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".")
                and (p.is_dir() or p.suffix.lower() in DATA_SUFFIXES)]


class FilePicker(ModalScreen[str | None]):
    DEFAULT_CSS = """
    FilePicker { align: center middle; }
    FilePicker > Vertical {
        width: 90%; height: 90%; border: thick $primary; background: $surface;
    }
    FilePicker DataTree { height: 1fr; }
    FilePicker Label { color: $text-muted; padding: 0 1; }
    """

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, root: str | Path = ".") -> None:
        super().__init__()
        self.root = Path(root)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Enter opens a folder or picks a file; Esc cancels.")
            yield DataTree(self.root)

    def on_mount(self) -> None:
        self.query_one(DataTree).focus()

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(str(event.path))

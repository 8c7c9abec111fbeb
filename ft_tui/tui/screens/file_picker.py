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

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel"),
                Binding("backspace", "parent", "Parent folder", key_display="⌫")]

    def __init__(self, root: str | Path = ".") -> None:
        super().__init__()
        self.root = Path(root).resolve()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._hint(), id="picker-hint")
            yield DataTree(self.root)

    def _hint(self) -> str:
        return (f"{self.root}\nEnter opens a folder or picks a file; Backspace goes to the "
                "parent folder; Esc cancels.")

    def action_parent(self) -> None:
        """Show the folder above the current root (a data file may live beside the project)."""
        if self.root.parent == self.root:
            return
        self.root = self.root.parent
        tree = self.query_one(DataTree)
        tree.path = self.root
        self.query_one("#picker-hint", Label).update(self._hint())
        tree.focus()

    def on_mount(self) -> None:
        self.query_one(DataTree).focus()

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(str(event.path))

"""The dataset engine: read the five formats, report every problem with its line, warn
about the whole set, split it and write a cleaned copy.

    from ft_tui.core.data import load_examples, inspect_path, split_examples

    result = load_examples("train.jsonl")        # .format, .examples, .errors
    report = inspect_path("train.jsonl", tokenizer=tok, max_length=512)
    report.to_dict()                              # the `ft-tui inspect --json` object

Nothing here imports torch or transformers; token lengths use the tokenizer you pass.
"""

from ft_tui.core.data.loader import ExampleStream, load_examples
from ft_tui.core.data.split import split_examples
from ft_tui.core.data.types import ERROR_CODES, FORMATS, Example, Issue, LoadResult

# The inspection and writing side loads on first use (it pulls in more modules).
_LAZY = {"InspectionReport": "report", "Warning": "report", "inspect_path": "report",
         "write_cleaned": "clean", "write_split": "clean"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"ft_tui.core.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'ft_tui.core.data' has no attribute {name!r}")


__all__ = [
    "ERROR_CODES", "FORMATS", "Example", "ExampleStream", "InspectionReport", "Issue",
    "LoadResult", "Warning", "inspect_path", "load_examples", "split_examples", "write_cleaned",
    "write_split",
]

"""The dataset engine: read the five formats, report every problem with its line, warn
about the whole set, split it and write a cleaned copy.

    from ft_tui.core.data import load_examples, inspect_path, split_examples

    result = load_examples("train.jsonl")        # .format, .examples, .errors
    report = inspect_path("train.jsonl", tokenizer=tok, max_length=512)
    report.to_dict()                              # the `ft-tui inspect --json` object

Nothing here imports torch or transformers; token lengths use the tokenizer you pass.
"""

from ft_tui.core.data.checks import DataWarning
from ft_tui.core.data.clean import write_cleaned, write_split
from ft_tui.core.data.loader import ExampleStream, load_examples
from ft_tui.core.data.report import InspectionReport, inspect_path
from ft_tui.core.data.split import split_examples
from ft_tui.core.data.types import ERROR_CODES, FORMATS, Example, Issue, LoadResult

__all__ = [
    "ERROR_CODES", "FORMATS", "Example", "ExampleStream", "InspectionReport", "Issue",
    "LoadResult", "DataWarning", "inspect_path", "load_examples", "split_examples", "write_cleaned",
    "write_split",
]

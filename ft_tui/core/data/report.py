"""``inspect_path``: one streaming pass over a file that yields the full inspection report.

``InspectionReport.to_dict()`` is the ``ft-tui inspect --json`` contract::

    {"path", "format", "n_examples",
     "errors":   [{"line", "code", "message", "rows"?}],   (rows: one problem on that
                 many rows, said once; "line" is "file:line" text for a multi-file set)
     "warnings": [{"code", "message", "lines"}],
     "tokens":   {"min", "median", "p95", "max", "n_too_long", "max_length",
                  "n_untrained", "n_cut"?} | null,   (n_cut: examples counted on
                 their start only, too long whatever the rest holds; "max" is then a lower bound)
     "labels":   {label: count} | null,
     "preference": {"pairs", "chosen_longer", "chosen_longer_share"} | null,
     "kto":      {"true", "false"} | null,
     "sft_usable": bool,
     "task_type": {"type", "name", "assumed", "reason", "minimum", "good"}}
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ft_tui.core.data.checks import TASK_TYPES, DataWarning, SetChecks, normalise_task_type
from ft_tui.core.data.loader import ExampleStream
from ft_tui.core.data.tokens import TokenCounter
from ft_tui.core.data.types import SFT_FORMATS, Example, Issue, IssueLog

__all__ = ["DataWarning", "InspectionReport", "inspect_path", "longest"]

PROGRESS_EVERY_S = 0.5


@dataclass
class InspectionReport:
    path: str
    format: str | None
    n_examples: int
    errors: list[Issue] = field(default_factory=list)
    warnings: list[DataWarning] = field(default_factory=list)
    tokens: dict[str, Any] | None = None
    labels: dict[str, int] | None = None
    task_type: dict[str, Any] | None = None
    preference: dict[str, Any] | None = None
    kto: dict[str, int] | None = None
    # Per-example token counts in file order (for histograms); not part of the JSON.
    token_lengths: list[int] | None = None

    @property
    def ok(self) -> bool:
        """No error and at least one usable example (exit code 0): one with a trained
        token left after truncation to max_length."""
        untrained = (self.tokens or {}).get("n_untrained") or 0
        return self.n_examples > untrained and not self.errors

    def warning(self, code: str) -> DataWarning | None:
        return next((w for w in self.warnings if w.code == code), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "n_examples": self.n_examples,
            "errors": [e.to_dict() for e in self.errors],
            "warnings": [w.to_dict() for w in self.warnings],
            "tokens": self.tokens,
            "labels": self.labels,
            "task_type": self.task_type,
            "preference": self.preference,
            "kto": self.kto,
            "sft_usable": self.sft_usable,
        }

    @property
    def sft_usable(self) -> bool:
        """Whether supervised fine-tuning can train on this file as it is."""
        return self.ok and self.format in SFT_FORMATS


def inspect_path(path: str | os.PathLike, tokenizer: Any = None, max_length: int = 512,
                 task_type: str | None = None, train_on: str = "all_assistant",
                 objective: str = "sft",
                 progress: Callable[[int, float], None] | None = None) -> InspectionReport:
    """Check a data file end to end. Never raises on bad content; a missing file raises
    FileNotFoundError and an unknown ``task_type`` ValueError. Without a tokenizer the
    report has no token statistics. ``train_on`` (data.train_on) says which answers are
    trained, for the examples whose answers truncation would cut off. ``objective`` (sft,
    dpo or kto) is what the file is meant for: the warning that SFT cannot use preference
    or KTO rows is left out when they are meant for DPO or KTO. ``progress(rows, seconds)``
    is called about twice a second while rows are read (the CLI's progress line, the
    wizard's bar)."""
    chosen_type = normalise_task_type(task_type)
    stream = ExampleStream(path)
    checks = SetChecks()
    counter = (TokenCounter(tokenizer, max_length, train_on=train_on)
               if tokenizer is not None else None)
    errors = IssueLog()
    start = time.monotonic()
    next_report = start + PROGRESS_EVERY_S
    try:
        for rows, item in enumerate(stream, start=1):
            if progress is not None and not rows % 256 and time.monotonic() >= next_report:
                now = time.monotonic()
                progress(rows, now - start)
                next_report = now + PROGRESS_EVERY_S
            if isinstance(item, Example):
                checks.add(item)
                if counter is not None:
                    counter.add(item.line, item.messages, item.tools)
            else:
                errors.add(item)
    finally:
        if counter is not None:
            counter.finish()  # also ends its worker thread if reading failed
    warnings = checks.warnings(chosen_type, objective)
    report = InspectionReport(str(path), stream.format, checks.n, errors.result(checks.n), warnings,
                              labels=checks.labels.counts)
    report.task_type = _task_type(checks, chosen_type)
    report.preference, report.kto = checks.preference_stats(), checks.kto_stats()
    report.warnings.extend(stream_notes(stream))
    if stream.media_lines:
        lines = stream.media_lines
        report.warnings.append(DataWarning(
            "media_ignored", f"{len(lines)} example(s) refer to images, audio or video (e.g. "
            f"line {lines[0]}); ft-tui trains text models, so the media are not used: only the "
            "text of each turn is trained, with any <image>-style markers left in it as text.",
            lines))
    if counter is not None:
        report.tokens = counter.stats()
        report.token_lengths = counter.lengths.tolist()
        too_long = counter.too_long_lines()
        if too_long:
            cut = counter.cut_lines
            report.warnings.append(DataWarning(
                "too_long", f"{len(too_long)} example(s) are longer than max_length "
                            f"{max_length} tokens (longest {longest(report.tokens)}) and will be "
                            "truncated; raise --max-length / data.max_length, or shorten them."
                            + (f" {len(cut)} of them are so long (over {counter.char_bound} "
                               f"characters, e.g. line {cut[0]}) that only their start was "
                               "counted." if cut else ""),
                too_long))
        untrained = counter.untrained_lines
        report.tokens["n_untrained"] = len(untrained)
        if untrained:
            report.warnings.append(DataWarning(
                "no_trained_token", f"{len(untrained)} of {report.n_examples} example(s) have "
                f"no trained token once cut to max_length {max_length}: the prompt fills the "
                "limit, so the answer is cut off and the example adds no loss (training leaves "
                "it out). Raise --max-length / data.max_length, or shorten those prompts.",
                untrained))
        if counter.template_failures:
            report.tokens["template_failures"] = counter.template_failures
        if checks.tool_lines and getattr(tokenizer, "chat_template", None):
            from ft_tui.core.data.masks import renders_tools

            if not renders_tools(tokenizer):
                report.warnings.append(DataWarning(
                    "tools_as_text", f"{len(checks.tool_lines)} example(s) use tools, but this "
                    "model's chat template does not render tool schemas or calls; ft-tui writes "
                    "the calls as <tool_call> text in the answer and the schemas in the system "
                    "message, so the model learns that text form. Pick a model whose template "
                    "supports tools to train its native format.", checks.tool_lines))
    return report


def longest(tokens: dict) -> str:
    """The longest example's token count as said: a lower bound ("at least N") when some
    example was too long to count whole (``n_cut``)."""
    return f"at least {tokens['max']}" if tokens.get("n_cut") else str(tokens["max"])


def stream_notes(stream: ExampleStream) -> list[DataWarning]:
    """How the file's rows were read when they were not in ft-tui's own names."""
    notes = []
    if stream.renamed:
        line, renamed = stream.renamed
        notes.append(DataWarning("renamed_columns", f"read {renamed} (from line {line}): "
                                 "the names other projects use for these fields."))
    if stream.oasst_trees:
        notes.append(DataWarning("oasst_trees", f"{stream.oasst_trees} Open Assistant message "
                                 "tree(s): each is read as one thread, the best-ranked reply at "
                                 "every turn (rank 0), the way oasst's own exports pick it; the "
                                 "other replies are not used. To train on every thread, export "
                                 "each path as its own {\"messages\": [...]} row."))
    return notes


def _task_type(checks: SetChecks, chosen: str | None) -> dict[str, Any] | None:
    if checks.n == 0:
        return None
    if chosen:
        kind, reason, assumed = chosen, "given with --task-type", False
    else:
        (kind, reason), assumed = checks.infer_task_type(), True
    name, minimum, good = TASK_TYPES[kind]
    return {"type": kind, "name": name, "assumed": assumed, "reason": reason,
            "minimum": minimum, "good": good}

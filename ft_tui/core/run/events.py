"""Typed events from the trainer to whoever listens (the TUI, the CLI progress bar).

Each event is a small dataclass. The trainer puts it on a thread-safe queue and appends
it, as one JSON object, to the run's ``metrics.jsonl``; ``ft-tui monitor`` reads them back
with :func:`event_from_dict`. So the dashboard sees the same thing live and after the fact.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class Event:
    type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["type"] = self.type
        return data


@dataclass
class RunStarted(Event):
    type: ClassVar[str] = "start"
    run_dir: str
    total_steps: int
    start_step: int = 0          # > 0 when resuming
    method: str = ""
    model: str = ""
    device: str = ""
    trainable_params: int = 0
    total_params: int = 0
    time: float = 0.0


@dataclass
class StepLog(Event):
    type: ClassVar[str] = "log"
    step: int
    loss: float
    learning_rate: float | None = None
    grad_norm: float | None = None
    epoch: float | None = None
    tokens_per_s: float | None = None
    num_tokens: int | None = None    # cumulative trained tokens, continues across resume
    eta_s: float | None = None
    elapsed_s: float | None = None
    gpu_mem_gb: float | None = None
    total_steps: int | None = None
    padding_share: float | None = None   # share of the processed tokens that were padding (0-1)
    mfu: float | None = None             # model FLOPs utilisation of the GPU(s) (0-1), CUDA only


@dataclass
class EvalLog(Event):
    type: ClassVar[str] = "eval"
    step: int
    eval_loss: float
    epoch: float | None = None


@dataclass
class PreferenceLog(Event):
    """DPO/KTO's own signals at a logging step, from TRL's ``rewards/*`` logs. A reward is
    beta x (policy log-prob - reference log-prob) of an answer; ``margin`` is chosen minus
    rejected and ``accuracy`` the share of pairs whose chosen reward is higher (None for
    KTO, which has no pairs). ``split`` is "train" or "eval"."""

    type: ClassVar[str] = "preference"
    step: int
    margin: float | None = None
    accuracy: float | None = None
    chosen: float | None = None
    rejected: float | None = None
    split: str = "train"


@dataclass
class Samples(Event):
    """Generations for a few fixed held-out prompts: [{prompt, output, reference}]."""

    type: ClassVar[str] = "samples"
    step: int
    samples: list[dict[str, str]] = field(default_factory=list)


@dataclass
class TrainWarning(Event):
    """code: overfitting | nan_loss | no_progress | qlora_on_cpu | ..."""

    type: ClassVar[str] = "warning"
    step: int
    code: str
    message: str


@dataclass
class Checkpoint(Event):
    type: ClassVar[str] = "checkpoint"
    step: int
    path: str


@dataclass
class Phase(Event):
    """What the trainer is doing between step logs: training | evaluating | generating
    samples | saving. ``done``/``total`` count held-out rows while evaluating."""

    type: ClassVar[str] = "phase"
    step: int
    phase: str
    done: int = 0
    total: int = 0

    def describe(self) -> str:
        if self.phase == "evaluating" and self.total:
            return f"evaluating {self.done}/{self.total}"
        return self.phase


@dataclass
class RunFinished(Event):
    """state: done | stopped | failed. ``advice`` is set for failures we can explain
    (e.g. out of memory: what the planner says would fit)."""

    type: ClassVar[str] = "end"
    state: str
    step: int = 0
    message: str = ""
    advice: str = ""
    # Training time at the end, saving included: the clock a finished run shows, alike
    # live and when its history is replayed (None where nothing measured it).
    elapsed_s: float | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls for cls in (RunStarted, StepLog, EvalLog, PreferenceLog, Samples, TrainWarning,
                              Checkpoint, Phase, RunFinished)
}


class BadEvent(ValueError):
    """A metrics.jsonl record of a known type whose fields are missing or of the wrong type."""


def event_from_dict(data: Any) -> Event | None:
    """Rebuild an event from a metrics.jsonl line; None for anything that is not a valid
    event (unknown types, wrong field types, not an object at all). Never raises."""
    try:
        return decode_event(data)
    except BadEvent:
        return None


def decode_event(data: Any) -> Event | None:
    """Like :func:`event_from_dict`, but a record that claims a known type and does not fit
    it raises :class:`BadEvent`, so readers can count what they skipped. Unknown types (a
    newer ft-tui's events) and unknown keys are ignored: None."""
    if not isinstance(data, dict):
        raise BadEvent(f"not a JSON object: {type(data).__name__}")
    kind = data.get("type", "")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    values: dict[str, Any] = {}
    for name, required, annotation, options in _field_specs(cls):
        if name not in data:
            if required:
                raise BadEvent(f"{kind}: no {name!r}")
            continue
        values[name] = _field_value(kind, name, data[name], annotation, options)
    if cls is RunFinished and values.get("state") not in ("done", "stopped", "failed"):
        raise BadEvent(f"end: state {values.get('state')!r}")
    return cls(**values)


@functools.cache
def _field_specs(cls: type[Event]) -> tuple[tuple[str, bool, str, tuple[str, ...]], ...]:
    """(name, required, annotation, its options) per field: worked out once per class, as
    a long run's history decodes tens of thousands of events."""
    return tuple((f.name,
                  f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                  str(f.type), tuple(a.strip() for a in str(f.type).split("|")))
                 for f in dataclasses.fields(cls))


def _field_value(kind: str, name: str, value: Any, annotation: str,
                 options: tuple[str, ...]) -> Any:
    if value is None and "None" in options:
        return None
    for option in options:
        if isinstance(value, bool):
            break                       # true/false is no number and no text here
        if option == "str" and isinstance(value, str):
            return value
        if option == "int" and isinstance(value, int) and value >= 0:
            return value
        if option == "float" and isinstance(value, (int, float)):
            try:
                return float(value)
            except OverflowError:       # an integer too large for a float
                break
        if option.startswith("list[dict") and isinstance(value, list) and all(
                isinstance(item, dict) and all(isinstance(k, str) and isinstance(v, str)
                                               for k, v in item.items()) for item in value):
            return value
    raise BadEvent(f"{kind}: {name}={value!r:.40} is not {annotation}")

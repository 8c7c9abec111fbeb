"""Typed events from the trainer to whoever listens (the TUI, the CLI progress bar).

Each event is a small dataclass. The trainer puts it on a thread-safe queue and appends
it, as one JSON object, to the run's ``metrics.jsonl``; ``ft-tui monitor`` reads them back
with :func:`event_from_dict`. So the dashboard sees the same thing live and after the fact.
"""

from __future__ import annotations

import dataclasses
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
class RunFinished(Event):
    """state: done | stopped | failed. ``advice`` is set for failures we can explain
    (e.g. out of memory: what the planner says would fit)."""

    type: ClassVar[str] = "end"
    state: str
    step: int = 0
    message: str = ""
    advice: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls for cls in (RunStarted, StepLog, EvalLog, PreferenceLog, Samples, TrainWarning,
                              Checkpoint, RunFinished)
}


def event_from_dict(data: dict[str, Any]) -> Event | None:
    """Rebuild an event from a metrics.jsonl line; unknown types or keys are ignored."""
    cls = EVENT_TYPES.get(data.get("type", ""))
    if cls is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError:
        return None

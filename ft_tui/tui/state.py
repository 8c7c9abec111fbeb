"""What the wizard remembers between launches.

The run config itself is saved to ``config_path`` (YAML, the same file `ft-tui train`
reads); the wizard's own progress (current step, completed steps, last run directory)
goes to a small JSON file beside it. Both writes are atomic.

A wizard opened read-only (another wizard holds the config: core/config/wizard_lock.py)
never writes either file: ``save`` refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ft_tui.core.atomic import atomic_write_json
from ft_tui.core.config.settings import ConfigError, RunConfig
from ft_tui.core.wizard_file import (DEFAULT_CONFIG, WizardFileDamaged, read_wizard_file,
                                     wizard_file_for)

STEPS: tuple[tuple[str, str], ...] = (
    ("decide", "Decide"),
    ("data", "Data"),
    ("hardware", "Hardware"),
    ("configure", "Configure"),
    ("train", "Train"),
    ("evaluate", "Evaluate & Export"),
)
STEP_IDS = tuple(s for s, _ in STEPS)


class ReadOnlyState(PermissionError):
    """save() of a wizard opened read-only: another wizard owns the config."""


@dataclass
class WizardState:
    cfg: RunConfig
    config_path: Path
    current_step: str = "decide"
    completed: set[str] = field(default_factory=set)
    run_dir: str | None = None          # the current or last training run
    # The Decide step's answers ([question id, yes]) and its measured prompted baseline
    # (BaselineResult.to_dict() without the examples): the bar the evaluation must beat.
    decide_answers: list[list] = field(default_factory=list)
    baseline: dict | None = None
    # The Data step's token lengths and the file they were measured on
    # (core/wizard_file.token_stats_record): the Hardware step plans max_length from them.
    data_tokens: dict | None = None
    load_problem: str | None = None     # set when the saved config could not be read
    progress_note: str | None = None    # set when ft-tui.wizard.json was damaged and ignored
    read_only: bool = False             # another wizard holds the config: never save it

    @property
    def progress_path(self) -> Path:
        return wizard_file_for(self.config_path)

    @classmethod
    def load(cls, config_path: str | Path | None = None) -> "WizardState":
        path = Path(config_path or DEFAULT_CONFIG)
        problem = None
        cfg = RunConfig()
        if path.exists():
            try:
                cfg = RunConfig.load(path)
            except ConfigError as exc:
                problem = "; ".join(exc.problems)
        state = cls(cfg=cfg, config_path=path, load_problem=problem)
        try:
            data = read_wizard_file(state.progress_path)
            if data["current_step"] in STEP_IDS:
                state.current_step = data["current_step"]
            state.completed = {s for s in data["completed"] if s in STEP_IDS}
            state.run_dir = data["run_dir"]
            state.decide_answers = data["decide_answers"]
            state.baseline = data["baseline"]
            state.data_tokens = data["data_tokens"]
        except FileNotFoundError:
            pass
        except WizardFileDamaged as exc:   # damaged: start afresh
            state.current_step, state.completed, state.run_dir = "decide", set(), None
            state.decide_answers, state.baseline = [], None
            state.progress_note = (f"{exc} and was ignored: the wizard starts at the first step; "
                                   f"your settings in {path} are kept")
        return state

    def save(self) -> None:
        if self.read_only:
            raise ReadOnlyState(f"{self.config_path} is open read-only (another wizard holds "
                                f"it): nothing was saved")
        if self.load_problem is None:  # never overwrite a config the user must fix by hand
            self.cfg.save(self.config_path)
        atomic_write_json(self.progress_path, {
            "current_step": self.current_step,
            "completed": sorted(self.completed),
            "run_dir": self.run_dir,
            "decide_answers": self.decide_answers,
            "baseline": self.baseline,
            "data_tokens": self.data_tokens,
        })

    def mark_done(self, step: str) -> None:
        self.completed.add(step)

"""The wizard's tests train in the test process (``TrainStep.in_process``: the same
``start_run`` the detached trainer calls) so they can hold a run at a step; the detached
path itself is tested in tests/tui/test_train_detached.py and tests/test_detach.py."""

import pytest


@pytest.fixture(autouse=True)
def _train_in_process(request, monkeypatch):
    if request.node.get_closest_marker("detached") is None:
        from ft_tui.tui.steps.train import TrainStep

        monkeypatch.setattr(TrainStep, "in_process", True)


@pytest.fixture(autouse=True)
def _fixed_preflight(request, monkeypatch):
    """The Train step's preflight line names this machine's free memory; screens under test
    show a fixed line instead (tests/tui/test_train_step.py checks the real one)."""
    if request.node.get_closest_marker("real_preflight") is None:
        from ft_tui.tui.steps.train import TrainStep

        monkeypatch.setattr(TrainStep, "preflight_line",
                            staticmethod(lambda cfg: "Preflight: (fixed for tests)"))

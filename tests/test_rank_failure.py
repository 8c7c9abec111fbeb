"""A failure on any rank of a launched run is reported, not swallowed: two gloo workers
through `accelerate launch`, rank 1 runs out of memory (simulated, FT_TUI_FAULT) at step 2,
and the run ends at once with status.json, error.log and the CLI naming rank 1 and the cause."""

import json

import pytest

from ft_tui.cli import main
from ft_tui.core.run.events import RunFinished, StepLog
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training.launch import WORKER_LOG
from ft_tui.core.training.rank_failure import RankFailure, first_failure, record
from tests.test_launch import _config


@pytest.mark.slow   # several processes or a whole export: kept out of the ~5 min default run
def test_out_of_memory_on_rank_1_fails_the_run_and_names_rank_1(tiny_model_dir, tmp_path, capsys,
                                                                monkeypatch):
    monkeypatch.setenv("FT_TUI_FAULT", "1:2:oom")
    config = _config(tmp_path, tiny_model_dir, max_steps=400)
    code = main(["train", str(config), "--num-processes", "2", "--cpu"])
    out, err = capsys.readouterr()
    run = RunDir(tmp_path / "runs" / "ddp")
    log = (run.path / WORKER_LOG).read_text()
    assert code != 0, err + log

    status = run.read_status()
    assert status["state"] == "failed" and status["failed_rank"] == 1, status
    assert "rank 1 of 2 failed: out of memory" in status["message"]
    assert "error.rank1.log" in status["message"]
    assert status["advice"]                                  # what would fit instead
    # The other rank stopped with it: no step long after the failure.
    steps = [e.step for e in run.read_events() if isinstance(e, StepLog)]
    assert max(steps, default=0) < 10, steps
    final = run.read_events()[-1]
    assert isinstance(final, RunFinished) and final.message == status["message"]

    error_log = (run.path / "error.log").read_text()
    assert "rank 1 of 2 failed: out of memory" in error_log
    assert "OutOfMemoryError: CUDA out of memory" in error_log and "simulated on rank 1" in error_log
    assert "OutOfMemoryError" in (run.path / "error.rank1.log").read_text()
    assert "rank 1 of 2 failed: out of memory" in err        # the person sees it too


def test_the_earliest_rank_failure_is_the_cause(tmp_path):
    """Rank 1 fails first; rank 0 fails after it ('Connection closed by peer'): rank 1 is named."""
    record(tmp_path, 1, 2, RunFinished("failed", 2, "out of memory at step 2"), None)
    path = tmp_path / "failure.rank0.json"
    data = json.loads((tmp_path / "failure.rank1.json").read_text())
    path.write_text(json.dumps({**data, "rank": 0, "message": "RuntimeError: Connection closed by peer",
                                "time": data["time"] + 1}))
    first = first_failure(tmp_path)
    assert isinstance(first, RankFailure) and first.rank == 1
    assert first.summary() == "rank 1 of 2 failed: out of memory at step 2"
    assert first_failure(tmp_path / "nothing-here") is None


# torchrun's report of ended workers, in the shape torch/distributed/elastic/multiprocessing/
# errors/__init__.py formats it (BSD-3-Clause, PyTorch): rank 1 was SIGKILLed, rank 0 then
# failed on the closed connection, and the launcher had ended nobody else.
TORCHRUN_REPORT = """
============================================================
ft_tui.core.training.worker FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2026-12-07_18:26:52
  host      : node-a
  rank      : 0 (local_rank: 0)
  exitcode  : 1 (pid: 11605)
  error_file: <N/A>
  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-07_18:26:51
  host      : node-a
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 11606) SIGKILL
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 11606
============================================================
"""


def test_a_rank_killed_by_a_signal_is_found_in_the_launchers_report():
    from ft_tui.core.training.rank_failure import killed_rank

    killed = killed_rank(TORCHRUN_REPORT, 2)
    assert killed is not None and killed.rank == 1
    assert killed.summary().startswith("rank 1 of 2 failed: the process was killed (SIGKILL)")
    assert "out-of-memory killer" in killed.message
    # Ended by the launcher (SIGTERM) or by an error of its own: not a cause found here.
    assert killed_rank(TORCHRUN_REPORT.replace("-9 (pid: 11606) SIGKILL", "-15 (pid: 11606) SIGTERM")) is None
    assert killed_rank(TORCHRUN_REPORT.replace("-9 (pid: 11606) SIGKILL", "1 (pid: 11606)")) is None


@pytest.mark.slow   # two processes on 2 cores: ~25 s
def test_rank_1_killed_like_the_oom_killer_does_is_named(tiny_model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FT_TUI_FAULT", "1:2:kill")
    config = _config(tmp_path, tiny_model_dir, max_steps=400)
    code = main(["train", str(config), "--num-processes", "2", "--cpu"])
    out, err = capsys.readouterr()
    run = RunDir(tmp_path / "runs" / "ddp")
    assert code != 0, err
    status = run.read_status()
    assert status["state"] == "failed" and status["failed_rank"] == 1, status
    assert "rank 1 failed: the process was killed (SIGKILL)" in status["message"]
    assert "rank 1 failed" in (run.path / "error.log").read_text()

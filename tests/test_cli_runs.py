"""`ft-tui runs`: every run under the output folder with its state (a live one with its
process id, a killed one as interrupted), step, last loss, eval verdict and age."""

import json
import os
import subprocess
import sys
import time

from ft_tui.cli import main
from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.rundir import RunDir
from tests.tui.run_setup import write_replay_run


def _run(root, name, state, pid=None, step=0, total=10, losses=(), verdict=None, age_s=0.0):
    run = RunDir(root / "runs" / name)
    run.path.mkdir(parents=True)
    run.save_config(RunConfig().with_overrides({"training.max_steps": total}))
    status = {"state": state, "step": step, "total_steps": total, "updated": time.time() - age_s}
    if pid is not None:
        status["pid"] = pid
    run.status_path.write_text(json.dumps(status))
    lines = [{"type": "log", "step": i + 1, "loss": loss} for i, loss in enumerate(losses)]
    run.metrics_path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    if verdict is not None:
        run.eval_path.write_text(json.dumps({"verdict": {"finetuned_beats_base": verdict,
                                                         "text": "..."}}))
    return run


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_runs_lists_each_state_newest_first(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run(tmp_path, "live", "running", pid=os.getpid(), step=3, losses=(2.5, 2.25, 2.0, 1.875))
    _run(tmp_path, "killed", "running", pid=_dead_pid(), step=3, losses=(2.0,), age_s=120)
    _run(tmp_path, "finished", "done", step=10, total=10, losses=(1.5,), verdict=True, age_s=7200)
    _run(tmp_path, "flat", "done", step=10, losses=(1.5,), verdict=False, age_s=3 * 86400)
    write_replay_run(tmp_path)                      # a stopped run, status without "updated"
    (tmp_path / "runs" / "not-a-run").mkdir()       # no config.yaml: not listed

    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "STEP", "LOSS", "EVAL", "AGE"]
    by_name = {line.split()[0]: line for line in lines[1:] if line.strip() and not line.startswith("Watch")}
    assert set(by_name) == {"live", "killed", "finished", "flat", "demo"}
    assert f"running ({os.getpid()})" in by_name["live"] and "4/10" in by_name["live"]
    assert "1.8750" in by_name["live"]
    assert "interrupted" in by_name["killed"] and "2m ago" in by_name["killed"]
    assert "beat the base model" in by_name["finished"] and "2h ago" in by_name["finished"]
    assert "no clear gain" in by_name["flat"] and "3d ago" in by_name["flat"]
    assert "stopped" in by_name["demo"] and "18/30" in by_name["demo"]
    assert "Watch a running one: ft-tui monitor" in out and "live" in out.splitlines()[-1]

    assert main(["runs", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # newest first (the demo run has no time in its status: its config's)
    assert [r["name"] for r in data if r["name"] != "demo"] == ["live", "killed", "finished", "flat"]
    assert data[[r["name"] for r in data].index("live")]["pid"] == os.getpid()
    killed = next(r for r in data if r["name"] == "killed")
    assert killed["state"] == "interrupted" and killed["pid"] is None
    assert killed["last_loss"] == 2.0 and 110 < killed["age_s"] < 600


def test_runs_reads_the_wizards_output_dir_and_says_when_there_are_none(tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    RunConfig().with_overrides({"output_dir": "elsewhere"}).save(tmp_path / "ft-tui.yaml")
    _run(tmp_path / "x", "ignored", "done")          # under x/runs: not this folder's
    assert main(["runs"]) == 0
    assert "No runs under elsewhere/ yet" in capsys.readouterr().out
    (tmp_path / "afile").write_text("")
    assert main(["runs", "--output-dir", "afile"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err

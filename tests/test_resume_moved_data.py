"""`ft-tui train --resume RUN --data FILE` after the data file moved: allowed when FILE holds
the bytes the run started on (sha256 in RUN/data_hashes.json), refused when it differs;
the new place is stored absolute and shown relative to the working folder."""

import hashlib
import json

from ft_tui.cli import main
from ft_tui.core.run.rundir import RunDir
from tests.test_run_robustness import _stopped_run


def _resume(capsys, *argv):
    code = main(["train", "--resume", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "unexpected error" not in err and "Traceback" not in err
    return code, out, err


def test_resume_follows_the_moved_data_file_only_when_it_is_the_same_data(
        tiny_model_dir, tmp_path, capsys, monkeypatch):
    run = _stopped_run(tiny_model_dir, tmp_path, max_steps=6)
    original = tmp_path / "train.jsonl"
    recorded = json.loads(run.data_hashes_path.read_text())["data.train_path"]
    assert recorded == {"path": str(original), "bytes": original.stat().st_size,
                        "sha256": hashlib.sha256(original.read_bytes()).hexdigest()}

    moved = tmp_path / "project" / "data" / "train.jsonl"
    moved.parent.mkdir(parents=True)
    original.rename(moved)
    monkeypatch.chdir(tmp_path / "project")
    status = run.status_path.read_bytes()

    # the file is gone: say so, and how to point at its new place
    code, _, err = _resume(capsys, run.path)
    assert code == 2
    assert f"data.train_path: {original} is not there any more" in err
    assert "--data NEW_PATH" in err

    # another file under the new name: refused, nothing touched
    other = tmp_path / "project" / "other.jsonl"
    other.write_text(moved.read_text().replace("Classify", "Sort"))
    code, _, err = _resume(capsys, run.path, "--data", "other.jsonl")
    assert code == 2
    assert "--data: other.jsonl is not the data this run started on" in err
    assert "start a new run" in err
    assert run.load_config().data.train_path == str(original)
    assert run.status_path.read_bytes() == status

    # the same bytes: it resumes, stores the new place absolute, shows it relative
    code, out, err = _resume(capsys, run.path, "--data", "data/train.jsonl")
    assert code == 0, err
    assert "data.train_path: now data/train.jsonl, the same data the run started on" in err
    assert RunDir(run.path).read_status()["state"] == "done"
    assert run.load_config().data.train_path == str(moved)
    assert json.loads(run.data_hashes_path.read_text())["data.train_path"]["path"] == str(moved)


def test_resume_still_refuses_other_overrides(tiny_model_dir, tmp_path, capsys):
    code, _, err = _resume(capsys, tmp_path, "--data", "x.jsonl", "--max-steps", "5")
    assert code == 2 and "drop --max-steps" in err and "--data" not in err.split("drop")[1][:15]

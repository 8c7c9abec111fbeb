"""A run's data given as a folder, a ``save_to_disk`` folder or a glob: data_hashes.json
covers every file it resolves to (names and content), so a resume or an evaluation
notices a file of the set that changed, appeared or went, and names it."""

import json

import pytest

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.data_hashes import checksum_lines
from ft_tui.core.run.rundir import RunDir, RunDirError


def _rows(*pairs):
    return "".join(json.dumps({"messages": [{"role": "user", "content": q},
                                            {"role": "assistant", "content": a}]}) + "\n"
                   for q, a in pairs)


def _run(tmp_path, train_path) -> tuple[RunDir, RunConfig]:
    cfg = RunConfig().with_overrides({"data.train_path": str(train_path),
                                      "output_dir": str(tmp_path / "runs"), "run_name": "run"})
    run = RunDir.create(tmp_path / "runs", "run")
    run.save_config(cfg)
    return run, run.load_config()


def _shards(folder):
    folder.mkdir()
    (folder / "part-1.jsonl").write_text(_rows(("Reset my password", "Settings > Security > Reset."),
                                               ("Cancel my plan", "Billing > Plan > Cancel.")))
    (folder / "part-2.jsonl").write_text(_rows(("Export my data", "Settings > Privacy > Export.")))
    (folder / "README.md").write_text("not data: left out of the set, and of its hash\n")


def test_a_file_edited_inside_a_data_folder_stops_the_resume_and_is_named(tmp_path):
    _shards(tmp_path / "data")
    run, cfg = _run(tmp_path, tmp_path / "data")
    recorded = run.data_hashes()["data.train_path"]
    assert [f["name"] for f in recorded["files"]] == ["part-1.jsonl", "part-2.jsonl"]
    assert run.check_data(cfg) == cfg          # the same folder resumes
    assert run.data_changes(cfg) == []

    (tmp_path / "data" / "README.md").write_text("edited: not data, so not a change\n")
    assert run.data_changes(cfg) == []
    part = tmp_path / "data" / "part-2.jsonl"
    part.write_text(part.read_text().replace("Export", "Delete"))   # same size, other bytes
    changes = run.data_changes(cfg)
    assert len(changes) == 1 and "part-2.jsonl changed" in changes[0], changes
    assert "part-1.jsonl" not in changes[0]
    with pytest.raises(RunDirError, match=r"data.train_path: .*data changed since the run started "
                                          r"\(part-2.jsonl changed"):
        run.check_data(cfg)


def test_a_glob_of_files_notices_a_new_match_and_follows_a_moved_folder(tmp_path, monkeypatch):
    _shards(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    run, cfg = _run(tmp_path, "data/part-*.jsonl")
    assert cfg.data.train_path == str(tmp_path / "data" / "part-*.jsonl")  # stored absolute
    assert checksum_lines(run.data_hashes()) == [
        f"{run.data_hashes()['data.train_path']['files'][i]['sha256']}  {tmp_path / 'data' / name}"
        for i, name in enumerate(("part-1.jsonl", "part-2.jsonl"))]   # one line a file: sha256sum -c

    (tmp_path / "data" / "part-3.jsonl").write_text(_rows(("Change my email", "Settings > Account.")))
    changes = run.data_changes(cfg)
    assert len(changes) == 1 and "part-3.jsonl added" in changes[0], changes
    (tmp_path / "data" / "part-3.jsonl").unlink()
    assert run.data_changes(cfg) == []

    # the set moved: the same names and bytes elsewhere resume; a changed copy does not
    (tmp_path / "data").rename(tmp_path / "moved")
    moved = run.check_data(cfg, {"data.train_path": "moved/part-*.jsonl"})
    assert moved.data.train_path == str(tmp_path / "moved" / "part-*.jsonl")
    (tmp_path / "moved" / "part-1.jsonl").unlink()
    with pytest.raises(RunDirError, match=r"--data: moved/part-\*.jsonl is not the data this run "
                                          r"started on .*part-1.jsonl removed"):
        run.check_data(cfg, {"data.train_path": "moved/part-*.jsonl"})


def test_a_save_to_disk_folder_rewritten_with_other_rows_is_noticed(tmp_path):
    from datasets import Dataset

    def save(answer):
        rows = [{"messages": [{"role": "user", "content": "Reset my password"},
                              {"role": "assistant", "content": answer}]}] * 4
        Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))

    save("Settings > Security > Reset.")
    run, cfg = _run(tmp_path, tmp_path / "saved")
    names = [f["name"] for f in run.data_hashes()["data.train_path"]["files"]]
    assert names and all(n.endswith(".arrow") for n in names)
    assert run.data_changes(cfg) == []
    save("Ask the admin.")
    changes = run.data_changes(cfg)
    assert len(changes) == 1 and f"{names[0]} changed" in changes[0], changes

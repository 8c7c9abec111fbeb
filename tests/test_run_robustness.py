"""What real machines do to a run: two terminals resuming it at once, SIGTERM from
`timeout` / `docker stop`, a process that died with the run marked running."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ft_tui.core.run.events import StepLog
from ft_tui.core.run.lock import RunInUse, RunLock
from ft_tui.core.run.rundir import RunDir
from ft_tui.core.training import TrainingRunner, resume_runner
from tests.test_training_runner import tiny_cfg

ROOT = Path(__file__).resolve().parent.parent


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def _cli(*argv, **kw):
    return subprocess.Popen([sys.executable, "-m", "ft_tui", *map(str, argv)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _stopped_run(tiny_model_dir, tmp_path, max_steps):
    """A run stopped gracefully after its first logged step (checkpoint written)."""
    cfg = tiny_cfg(tiny_model_dir, tmp_path, **{"training.max_steps": max_steps,
                                                "training.save_steps": 50,
                                                "training.eval_steps": 50,
                                                "training.sample_every_steps": 0})
    holder = []

    def on_event(event):
        if isinstance(event, StepLog):
            holder[0].request_stop()
    runner = TrainingRunner(cfg, on_event=on_event)
    holder.append(runner)
    finished = runner.run()
    assert finished.state == "stopped", finished.message
    return runner.run_dir


def _logged_steps(run: RunDir) -> list[int]:
    return [e.step for e in run.read_events() if isinstance(e, StepLog)]


def test_lock_refuses_a_second_holder_and_names_it(tmp_path):
    with RunLock(tmp_path, "evaluating"):
        with pytest.raises(RunInUse, match=rf"in use by process {os.getpid()} \(evaluating\)"):
            RunLock(tmp_path, "training").acquire()
    RunLock(tmp_path).acquire().release()   # free again once released


@pytest.mark.slow   # several processes or a whole export: kept out of the ~5 min default run
def test_two_resumes_at_the_same_moment_only_one_trains(tiny_model_dir, tmp_path):
    run = _stopped_run(tiny_model_dir, tmp_path, max_steps=8)
    first = _logged_steps(run)
    procs = [_cli("train", "--resume", run.path) for _ in range(2)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, _, err in results if code == 2)
    assert f"run {run.path} is in use by process" in loser and "Traceback" not in loser
    steps = _logged_steps(run)
    assert steps == sorted(set(steps)), "a step was trained twice"
    assert steps[: len(first)] == first and steps[-1] == 8
    assert run.read_status()["state"] == "done"


def test_sigterm_stops_training_with_a_checkpoint_and_it_resumes(tiny_model_dir, tmp_path):
    cfg = tiny_cfg(tiny_model_dir, tmp_path, **{"training.max_steps": 5000,
                                                "training.save_steps": 5000,
                                                "training.eval_steps": 5000,
                                                "training.sample_every_steps": 0})
    config = tmp_path / "run.yaml"
    cfg.save(config)
    proc = _cli("train", config)
    run = RunDir(Path(cfg.output_dir) / "run")
    deadline = time.monotonic() + 300
    while not (run.metrics_path.exists() and _logged_steps(run)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=300)
    out, err = proc.communicate()
    assert code == 130, (out, err)
    status = run.read_status()
    assert status["state"] == "stopped" and 0 < status["step"] < 5000
    assert run.latest_checkpoint().name == f"checkpoint-{status['step']}"
    assert "SIGTERM: stopping after this step" in err and "Traceback" not in err
    # bitsandbytes' import-time hub-kernel notice (it suggests trust_remote_code) stays out
    assert "kernels-community" not in err and "trust" not in err, err
    assert f"Resume: ft-tui train --resume {run.path}" in out
    runner = resume_runner(run.path)     # resumable: not refused as "still running"
    runner._lock.release()


def test_a_run_whose_process_died_is_resumable_everywhere(tiny_model_dir, tmp_path):
    """status.json says running, but its pid is gone (kill -9, power cut)."""
    from ft_tui.core.run.artifacts import NotTrained, trained_model_dir
    from ft_tui.tui.monitor import describe_status

    run = _stopped_run(tiny_model_dir, tmp_path, max_steps=8)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    data = json.loads(run.status_path.read_text())
    run.status_path.write_text(json.dumps({**data, "state": "running", "pid": dead.pid}))
    assert run.read_state() == "interrupted"
    with pytest.raises(NotTrained, match="interrupted") as info:
        trained_model_dir(run)
    assert "still training" not in str(info.value)
    assert f"ft-tui train --resume {run.path}" in str(info.value)
    assert "resume it with" in describe_status(run.read_status(), run.path)
    resume_runner(run.path)._lock.release()


# ----- mistyped metrics lines ------------------------------------------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from ft_tui.core.run.events import EVENT_TYPES, event_from_dict  # noqa: E402

MISTYPED = ['{"type": "log", "step": null, "loss": 1.0}',
            '{"type": "log", "step": 3, "loss": "abc"}',
            '[1, 2, 3]',
            '"just a string"',
            '{"type": "samples", "step": 2, "samples": [{"prompt": 5}]}',
            '{"type": "end", "state": 7}',
            '{"type": "log", "step": true, "loss": 1.0}',
            '{"type": "log", "step": 1, "loss": 1e999999}',
            '{"type": "log", "step": 2, "loss": 1%s}' % ("0" * 400),   # too large for a float
            '{not json']


def _write_mixed_metrics(run: RunDir, good_steps=(1, 2)):
    lines = [json.dumps({"type": "start", "run_dir": str(run.path), "total_steps": 4})]
    lines += MISTYPED
    lines += [json.dumps({"type": "log", "step": s, "loss": 2.0 - s / 10, "total_steps": 4})
              for s in good_steps]
    run.metrics_path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_mistyped_lines_are_skipped_and_counted(tmp_path):
    from ft_tui.core.config.settings import RunConfig

    run = RunDir.create(tmp_path, "r")
    run.save_config(RunConfig())
    _write_mixed_metrics(run)
    events, bad = run.read_events_counted()
    # the 1e999999 loss is inf: a float, kept (a diverged run logs inf/nan)
    assert [e.step for e in events if isinstance(e, StepLog)] == [1, 1, 2]
    assert bad == len(MISTYPED) - 1
    assert all(isinstance(d, dict) for d in run.iter_metric_dicts())


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
FIELDS = st.sampled_from(sorted({f for cls in EVENT_TYPES.values()
                                 for f in cls.__dataclass_fields__} | {"type", "state"}))
RECORDS = JSON | st.builds(lambda kind, rest: {**rest, "type": kind},
                           st.sampled_from(sorted(EVENT_TYPES)),
                           st.dictionaries(FIELDS, JSON, max_size=8))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(record=RECORDS)
def test_event_reader_never_raises_and_keeps_types(record):
    event = event_from_dict(record)
    if event is not None:
        for name, value in vars(event).items():
            assert not isinstance(value, bool)
        if hasattr(event, "step"):
            assert isinstance(event.step, int) and event.step >= 0


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(records=st.lists(RECORDS, max_size=6), status=JSON | st.dictionaries(FIELDS, JSON))
def test_run_dir_readers_never_raise(tmp_path_factory, records, status):
    from ft_tui.core.evaluate.report import training_facts
    from ft_tui.core.training.resume import carried_from_metrics, truncate_metrics
    from ft_tui.tui.monitor import describe_status

    run = RunDir(tmp_path_factory.mktemp("fuzz"))
    run.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    run.status_path.write_text(json.dumps(status), encoding="utf-8")
    run.read_events_counted()
    assert run.read_status()["state"] in ("created", "running", "stopped", "failed", "done")
    run.read_state()
    describe_status(run.read_status(), run.path)
    training_facts(run)
    carried_from_metrics(run)
    truncate_metrics(run, 3)


# ----- export --out, eval with mistyped metrics, eval while training ----------------------

@pytest.fixture()
def finished_run(tmp_path, tiny_model_dir, isolated_cache):
    from tests.fixtures.eval_run import build_run_dir

    return build_run_dir(tmp_path / "a", tiny_model_dir)


def test_export_out_refuses_a_folder_holding_user_files_which_survive(finished_run, tmp_path, capsys):
    from ft_tui.cli import main

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "train.jsonl").write_text("my own data\n")
    (project / "adapter").mkdir()
    (project / "adapter" / "notes.txt").write_text("mine\n")
    for force in ([], ["--force"]):
        assert main(["export", str(finished_run), "--out", str(project), *force]) == 2
        err = capsys.readouterr().err
        assert "holds files ft-tui did not write" in err and "Traceback" not in err
    assert (project / "data" / "train.jsonl").read_text() == "my own data\n"
    assert (project / "adapter" / "notes.txt").read_text() == "mine\n"
    assert sorted(p.name for p in project.iterdir()) == ["adapter", "data"]

    ship = tmp_path / "ship"
    assert main(["export", str(finished_run), "--out", str(ship)]) == 0
    assert main(["export", str(finished_run), "--out", str(ship)]) == 0   # again: ours
    assert (ship / "adapter" / "adapter_config.json").is_file()


def test_export_of_another_run_is_replaced_only_with_force(finished_run, tmp_path, tiny_model_dir,
                                                           capsys):
    from ft_tui.cli import main
    from tests.fixtures.eval_run import build_run_dir

    other = build_run_dir(tmp_path / "b", tiny_model_dir)
    ship = tmp_path / "ship"
    assert main(["export", str(finished_run), "--out", str(ship)]) == 0
    assert main(["export", str(other), "--out", str(ship)]) == 2
    assert "export of another run" in capsys.readouterr().err
    assert main(["export", str(other), "--out", str(ship), "--force"]) == 0


def test_eval_with_mistyped_metrics_lines_still_writes_eval_json(finished_run):
    from ft_tui.core.evaluate.run import evaluate_run

    run = RunDir(finished_run)
    _write_mixed_metrics(run)
    report = evaluate_run(run, max_examples=2, judge=False)
    assert report.n_examples == 2
    assert json.loads(run.eval_path.read_text())["n_examples"] == 2


def test_eval_and_merge_refuse_a_run_another_process_is_training(finished_run, capsys):
    from ft_tui.cli import main

    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from ft_tui.core.run.lock import RunLock; "
                               f"lock = RunLock({str(finished_run)!r}, 'training').acquire(); "
                               "print('held', flush=True); time.sleep(120)"],
                              env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for argv in (["eval", str(finished_run)], ["export", str(finished_run), "--merge"]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert f"is in use by process {holder.pid} (training)" in err
        assert not RunDir(finished_run).eval_path.exists()
    finally:
        holder.kill()
        holder.wait()


# ----- usage problems: exit 2, one line, no run directory -------------------------------

def test_usage_problems_exit_2_before_any_run_directory(finished_run, tmp_path, tiny_model_dir,
                                                        capsys):
    from ft_tui.cli import main
    from tests.test_training_runner import write_data

    data = write_data(tmp_path / "train.jsonl")
    runs = tmp_path / "runs"
    base = ["train", "--model", str(tiny_model_dir), "--data", str(data), "--output-dir", str(runs)]
    for extra, said in ((["--run-name", "../../escaped"], "run_name: '../../escaped' is not a plain"),
                        (["--lr", "nan"], "training.learning_rate: expected a finite number")):
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert said in err and "unexpected error" not in err
    assert not runs.exists() and not (tmp_path.parent / "escaped").exists()
    with pytest.raises(Exception, match="plain folder name"):
        RunDir.create(runs, "../x")

    assert main(["train", "--resume", str(finished_run)]) == 2     # a finished run
    err = capsys.readouterr().err
    assert "already finished; nothing to resume" in err and "unexpected error" not in err


# ----- a full disk ------------------------------------------------------------------------

def _disk_cfg(tiny_model_dir, tmp_path):
    return tiny_cfg(tiny_model_dir, tmp_path, **{"training.max_steps": 8, "training.save_steps": 2,
                                                 "training.eval_steps": 50,
                                                 "training.sample_every_steps": 0})


def test_a_checkpoint_that_cannot_fit_fails_the_run_and_keeps_the_last_good_one(
        tiny_model_dir, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from ft_tui.core.run.events import Checkpoint

    real = shutil.disk_usage
    usage = namedtuple("usage", "total used free")

    def on_event(event):   # the disk fills up once the first checkpoint is written
        if isinstance(event, Checkpoint):
            monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 4096, 4096))
    runner = TrainingRunner(_disk_cfg(tiny_model_dir, tmp_path), on_event=on_event)
    finished = runner.run()
    monkeypatch.setattr(shutil, "disk_usage", real)
    assert finished.state == "failed"
    assert "not enough disk space for the checkpoint at step 4" in finished.message
    assert "checkpoint-2 is kept" in finished.message and "--resume" in finished.message
    status = runner.run_dir.read_status()
    assert status["state"] == "failed" and "needs about" in status["message"]
    assert runner.run_dir.latest_checkpoint().name == "checkpoint-2"
    assert not (runner.run_dir.checkpoints_dir / "checkpoint-4").exists()
    resume_runner(runner.run_dir.path)._lock.release()


def test_disk_full_while_saving_fails_cleanly_and_drops_the_partial_checkpoint(
        tiny_model_dir, tmp_path, monkeypatch):
    import errno

    from transformers import Trainer

    real = Trainer._save_checkpoint
    saves = []

    def save(self, model, trial):
        saves.append(self.state.global_step)
        if len(saves) == 1:
            return real(self, model, trial)
        partial = Path(self.args.output_dir) / f"checkpoint-{self.state.global_step}"
        partial.mkdir(parents=True)
        (partial / "adapter_model.safetensors").write_bytes(b"\0" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Trainer, "_save_checkpoint", save)
    runner = TrainingRunner(_disk_cfg(tiny_model_dir, tmp_path))
    finished = runner.run()
    assert finished.state == "failed"
    assert "the disk is full" in finished.message and "checkpoint-2 is kept" in finished.message
    assert runner.run_dir.read_status()["state"] == "failed"
    assert runner.run_dir.latest_checkpoint().name == "checkpoint-2"
    assert not (runner.run_dir.checkpoints_dir / "checkpoint-4").exists()


def test_merge_that_cannot_fit_is_refused_before_loading(finished_run, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from ft_tui.core.export.run import ExportError, merge_adapter

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 4096, 4096))
    with pytest.raises(ExportError, match="not enough disk space for the merged model"):
        merge_adapter(finished_run, tmp_path / "out")
    assert not (tmp_path / "out" / "merged").exists()


# ----- data files that are not what they seem ----------------------------------------------

def test_gzip_and_utf16_files_are_named_and_a_bare_string_line_is_no_example(tmp_path):
    import gzip

    from ft_tui.core.data import load_examples

    row = json.dumps({"messages": [{"role": "user", "content": "hi"},
                                   {"role": "assistant", "content": "hello"}]})
    packed = tmp_path / "train.jsonl"
    packed.write_bytes(gzip.compress(((row + "\n") * 3).encode()))
    wide = tmp_path / "wide.jsonl"
    wide.write_bytes(((row + "\n") * 3).encode("utf-16"))
    # gzip is unpacked while reading (tests/test_data_ecosystem.py); a tar.gz is refused
    assert (len(load_examples(packed).examples), load_examples(packed).errors) == (3, [])
    tarball = tmp_path / "data.tar.gz"
    tarball.write_bytes(gzip.compress(b"not a data file"))
    for path, said, code in ((tarball, "tar xf data.tar.gz", "compressed"),
                             (wide, "UTF-16", "not_utf8")):
        result = load_examples(path)
        assert not result.examples and len(result.errors) == 1
        assert said in str(result.errors[0]) and result.errors[0].code == code
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(row + '\n"just a string"\n', encoding="utf-8")
    result = load_examples(mixed)
    assert len(result.examples) == 1
    assert [e.line for e in result.errors] == [2] and "JSON string" in str(result.errors[0])


def test_judge_key_over_plain_http_to_another_host_is_warned_about(finished_run, monkeypatch):
    from ft_tui.core.evaluate.judge import API_KEY_ENV, LLMJudge
    from ft_tui.core.evaluate.run import evaluate_run

    class OfflineJudge(LLMJudge):
        def score(self, prompt, reference, answer):
            return 1.0

    monkeypatch.setenv(API_KEY_ENV, "sk-test-not-real")
    refused = evaluate_run(finished_run, max_examples=1,
                           judge=OfflineJudge("http://judge.example:8000/v1", "j"))
    assert "not sent" in refused.settings["judge_error"] and "--judge-allow-http" in \
        refused.settings["judge_error"]
    assert "judge_score" not in refused.summary
    report = evaluate_run(finished_run, max_examples=1,
                          judge=OfflineJudge("http://judge.example:8000/v1", "j", allow_plain_http=True))
    warning = report.settings["judge_warning"]
    assert "judge.example over plain http" in warning and "https" in warning
    assert "sk-test-not-real" not in RunDir(finished_run).eval_path.read_text()
    local = evaluate_run(finished_run, max_examples=1,
                         judge=OfflineJudge("http://127.0.0.1:8000/v1", "j"))
    assert "judge_warning" not in local.settings


def test_a_run_stores_absolute_data_paths_so_resume_works_from_any_folder(tmp_path, monkeypatch):
    from ft_tui.core.config.settings import RunConfig

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "train.jsonl").write_text("{}\n")
    monkeypatch.chdir(project)
    run = RunDir.create(tmp_path / "runs", "r")
    run.save_config(RunConfig().with_overrides({"data.train_path": "data/train.jsonl"}))
    monkeypatch.chdir(tmp_path)
    assert run.load_config().data.train_path == str(project / "data" / "train.jsonl")

"""Models from the Hugging Face Hub as a user with internet gets them, against a local
server that speaks the Hub's protocol (tests/fixtures/hub_server.py) with the real
huggingface_hub client pointed at it through HF_ENDPOINT: downloads with progress that
resume, a different one-line message for each way it fails, tokens never written, and
bundled or local models that never touch the network."""

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ft_tui.cli import main
from ft_tui.core.models import hub
from tests.fixtures.hub_server import HubServer, sharded_copy

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hf_testSecretTokenValue1234567890"


@pytest.fixture(scope="module")
def sharded_model(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model in three safetensors shards with an index, as large models are published."""
    return sharded_copy(tiny_model_dir, tmp_path_factory.mktemp("sharded") / "model")


@pytest.fixture()
def online(tmp_path, monkeypatch):
    """A fresh HF_HOME, no offline mode, no token, plain HTTP (no Xet)."""
    import huggingface_hub.constants as constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("FT_TUI_CACHE", str(tmp_path / "ft-tui-cache"))
    # the client's own login file is read from where HF_HOME was at import
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)   # as conftest's import left it
    return tmp_path


def _serve(monkeypatch, server: HubServer) -> HubServer:
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    return server


def _cli(capsys, *argv):
    code = main([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----- train with a hub id -------------------------------------------------------------------

def test_train_with_a_hub_id_downloads_with_progress_trains_and_records_the_commit(
        online, sharded_model, monkeypatch, capsys):
    from tests.test_training_runner import write_data

    data = write_data(online / "train.jsonl")
    with _serve(monkeypatch, HubServer({"org/tiny": sharded_model})) as server:
        code, out, err = _cli(capsys, "train", "--model", "org/tiny", "--data", data, "--max-steps", 2,
                              "--output-dir", online / "runs", "--run-name", "r", "--yes")
        commit = server.commit("org/tiny")
    assert code == 0, err
    assert "org/tiny: 99,648 parameters" in err and "has a chat template" in err   # what it is, first
    assert "Downloading org/tiny:" in err and "(9/9 files)" in err and "ETA" in err
    assert "Traceback" not in err
    from ft_tui.core.run.rundir import RunDir

    cfg = RunDir(online / "runs" / "r").load_config()
    assert cfg.model.name == "org/tiny" and cfg.model.revision == commit
    # Resume/eval/export load that commit from the cache, with the hub gone.
    from ft_tui.core.models.resolve import prepare_run_model

    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    folder = prepare_run_model(cfg)
    assert folder.name == commit and (folder / "model-00003-of-00003.safetensors").exists()


def test_only_the_files_a_run_needs_are_fetched(online, sharded_model, tmp_path, monkeypatch, capsys):
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(sharded_model, repo)
    (repo / "pytorch_model.bin").write_bytes(b"duplicate weights")
    (repo / "model.gguf").write_bytes(b"GGUF duplicate")
    (repo / "original").mkdir()
    (repo / "original" / "consolidated.00.pth").write_bytes(b"original format")
    with _serve(monkeypatch, HubServer({"org/tiny": repo})) as server:
        code, out, err = _cli(capsys, "download", "org/tiny")
    assert code == 0, err
    fetched = {p.rsplit("/", 1)[-1] for m, p, _ in server.requests if m == "GET" and "/resolve/" in p}
    assert "model-00001-of-00003.safetensors" in fetched and "tokenizer.json" in fetched
    assert "chat_template.jinja" in fetched and "config.json" in fetched
    assert not fetched & {"pytorch_model.bin", "model.gguf", "consolidated.00.pth"}
    assert "Ready: " in out and server.commit("org/tiny") in out


# ----- one message for each failure ----------------------------------------------------------

def _one_line_error(code, err) -> str:
    assert code != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("ft-tui: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_gated_without_a_token_says_request_access_and_how_to_log_in(online, sharded_model, monkeypatch, capsys):
    with _serve(monkeypatch, HubServer({"meta/gated": sharded_model}, gated={"meta/gated"}, token=TOKEN)):
        code, _, err = _cli(capsys, "download", "meta/gated")
    line = _one_line_error(code, err)
    assert "meta/gated is gated" in line and "request access on https://huggingface.co/meta/gated" in line
    assert "`hf auth login`" in line and "HF_TOKEN" in line


def test_a_refused_token_says_so(online, sharded_model, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with _serve(monkeypatch, HubServer({"meta/gated": sharded_model}, gated={"meta/gated"}, token=TOKEN)):
        code, _, err = _cli(capsys, "download", "meta/gated")
    line = _one_line_error(code, err)
    assert "token was refused" in line and "gated" not in line
    assert "hf_wrong" not in err


def test_a_typo_says_no_such_model_and_suggests_known_names(online, sharded_model, monkeypatch, capsys):
    with _serve(monkeypatch, HubServer({"org/tiny": sharded_model})):
        code, _, err = _cli(capsys, "download", "Qwen/Qwen2.5-7B-Instrct")
    line = _one_line_error(code, err)
    assert "no model Qwen/Qwen2.5-7B-Instrct on the Hugging Face Hub" in line
    assert "did you mean Qwen/Qwen2.5-7B-Instruct" in line   # a hub id that can be pasted


def test_a_wrong_organisation_is_answered_with_the_hub_search(online, sharded_model, monkeypatch, capsys):
    with _serve(monkeypatch, HubServer({"HuggingFaceTB/tiny-chat": sharded_model})):
        code, _, err = _cli(capsys, "download", "someone/tiny-chat")
    line = _one_line_error(code, err)
    assert "no model someone/tiny-chat" in line and "did you mean HuggingFaceTB/tiny-chat" in line


def test_an_unreachable_hub_says_so_and_how_to_work_without_it(online, monkeypatch, capsys, tiny_model_dir):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    code, _, err = _cli(capsys, "train", "--model", "org/tiny", "--max-steps", 1,
                        "--output-dir", online / "runs")
    line = _one_line_error(code, err)
    assert "cannot reach the Hugging Face Hub" in line
    assert "local model folder" in line and "--offline" in line and "ft-tui download org/tiny" in line
    assert not (online / "runs").exists()   # said before any run directory


def test_an_unreachable_hub_falls_back_to_a_complete_cached_copy(online, sharded_model, monkeypatch):
    with _serve(monkeypatch, HubServer({"org/tiny": sharded_model})):
        first = hub.fetch_model("org/tiny", log=lambda _: None)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    said = []
    again = hub.fetch_model("org/tiny", log=said.append)
    assert again.path == first.path and again.downloaded == 0
    assert said == [f"cannot reach the Hugging Face Hub at {hub.endpoint()}; using the cached "
                    f"snapshot {first.commit[:12]} of org/tiny"]


def test_a_disk_too_small_says_needed_free_and_where(online, sharded_model, monkeypatch, capsys):
    monkeypatch.setattr(hub, "free_bytes", lambda folder: 1000)
    with _serve(monkeypatch, HubServer({"org/tiny": sharded_model})) as server:
        code, _, err = _cli(capsys, "download", "org/tiny")
    line = _one_line_error(code, err)
    assert "not enough disk for org/tiny: 418.3 KB needed, 1.0 KB free in " in line
    assert str(online / "hf" / "hub") in line and "HF_HOME" in line
    assert not [p for m, p, _ in server.requests if m == "GET" and "/resolve/" in p]   # nothing fetched


def test_a_shard_missing_on_the_hub_is_named(online, sharded_model, monkeypatch, capsys):
    server = HubServer({"org/tiny": sharded_model}, dropped={("org/tiny", "model-00002-of-00003.safetensors")})
    with _serve(monkeypatch, server):
        code, _, err = _cli(capsys, "download", "org/tiny")
    line = _one_line_error(code, err)
    assert "org/tiny" in line and "incomplete on the hub" in line
    assert "model-00002-of-00003.safetensors" in line


def test_a_cached_snapshot_missing_a_shard_is_named_offline_and_fetched_again_online(
        online, sharded_model, monkeypatch, capsys):
    with _serve(monkeypatch, HubServer({"org/tiny": sharded_model})) as server:
        snap = hub.fetch_model("org/tiny", log=lambda _: None)
        (snap.path / "model-00002-of-00003.safetensors").resolve().unlink()   # the blob is gone
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        code, _, err = _cli(capsys, "train", "--model", "org/tiny", "--output-dir", online / "runs")
        line = _one_line_error(code, err)
        assert "incomplete" in line and "model-00002-of-00003.safetensors" in line
        monkeypatch.delenv("HF_HUB_OFFLINE")
        before = len(server.requests)
        again = hub.fetch_model("org/tiny", revision=snap.commit, log=lambda _: None)
        fetched = [p for m, p, _ in server.requests[before:] if m == "GET" and "/resolve/" in p]
    assert again.path == snap.path and hub.missing_files(again.path) == []
    assert [p.rsplit("/", 1)[-1] for p in fetched] == ["model-00002-of-00003.safetensors"]


# ----- offline, when asked -------------------------------------------------------------------

@pytest.mark.parametrize("how", ["env", "flag", "config"])
def test_offline_when_asked_never_calls_the_hub(online, sharded_model, monkeypatch, capsys, how):
    argv = ["train", "--model", "org/tiny", "--output-dir", online / "runs"]
    if how == "env":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    elif how == "flag":
        argv.append("--offline")
    else:
        argv += ["--set", "model.offline=true"]
    with _serve(monkeypatch, HubServer({"org/tiny": sharded_model})) as server:
        code, _, err = _cli(capsys, *argv)
    line = _one_line_error(code, err)
    assert "org/tiny is not in the Hugging Face cache" in line and "offline mode is on" in line
    assert "ft-tui download org/tiny" in line
    assert server.requests == []


# ----- cancel and resume ---------------------------------------------------------------------

def test_a_cancelled_download_keeps_its_bytes_and_the_next_one_resumes(online, sharded_model, monkeypatch):
    cancel = threading.Event()
    seen = []

    def on_progress(progress):   # cancel in the middle of the first shard
        if progress.file.endswith(".safetensors"):
            seen.append(progress.done)
            if len(seen) >= 4:
                cancel.set()

    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)   # 10 MB: several per shard

    with _serve(monkeypatch, HubServer({"org/tiny": sharded_model}, throttle=400_000)) as server:
        with pytest.raises(hub.DownloadCancelled, match="run it again to resume"):
            hub.fetch_model("org/tiny", on_progress=on_progress, cancel=cancel)
        partial = [p for p in (online / "hf" / "hub" / "models--org--tiny" / "blobs").glob("*.part")
                   if p.stat().st_size]
        assert len(partial) == 1
        kept = partial[0].stat().st_size
        snap = hub.fetch_model("org/tiny", log=lambda _: None)
    assert hub.missing_files(snap.path) == []
    assert any(path.endswith(".safetensors") and rng == f"bytes={kept}-" for path, rng in server.ranges)
    assert seen == sorted(seen)


# ----- tokens --------------------------------------------------------------------------------

def test_a_gated_model_downloads_with_hf_token_which_is_sent_but_never_shown(
        online, sharded_model, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    server = HubServer({"meta/gated": sharded_model}, gated={"meta/gated"}, token=TOKEN)
    with _serve(monkeypatch, server):
        code, out, err = _cli(capsys, "download", "meta/gated")
    assert code == 0, err
    assert "gated (needs access and a token)" in err and "Ready: " in out
    assert any(auth == f"Bearer {TOKEN}" for m, p, auth in server.requests if "/resolve/" in p)
    assert TOKEN not in out + err


@pytest.mark.slow
def test_a_gated_model_with_hf_token_downloads_trains_and_the_token_is_written_nowhere(
        online, sharded_model, monkeypatch, capsys):
    from tests.test_training_runner import write_data

    data = write_data(online / "train.jsonl")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with _serve(monkeypatch, HubServer({"meta/gated": sharded_model}, gated={"meta/gated"}, token=TOKEN)):
        code, out, err = _cli(capsys, "train", "--model", "meta/gated", "--data", data, "--max-steps", 2,
                              "--output-dir", online / "runs", "--run-name", "r", "--yes")
        assert code == 0, err
        code, out2, err2 = _cli(capsys, "export", online / "runs" / "r", "--merge")
        assert code == 0, err2
    assert TOKEN not in out + err + out2 + err2
    written = [p for p in online.rglob("*") if p.is_file() and not p.is_symlink()]
    assert any(p.name == "config.yaml" for p in written)
    leaks = [p for p in written if TOKEN.encode() in p.read_bytes()]
    assert leaks == []


# ----- bundled and local models never touch the network --------------------------------------

@pytest.mark.slow   # a fresh process that imports transformers, peft and bitsandbytes and trains
def test_the_default_model_and_local_folders_load_without_any_hub_request(tiny_model_dir, tmp_path):
    """In a fresh process (the client reads its settings at import), with no HF_HUB_OFFLINE
    and HF_ENDPOINT pointing at a server that counts requests: the default model's tokenizer
    and a training run on a local folder make none (bitsandbytes' kernel look-up and the
    libraries' usage pings included)."""
    from tests.test_training_runner import write_data

    data = write_data(tmp_path / "train.jsonl")
    script = (
        "import sys\n"
        "from ft_tui.core.models.resolve import prepare_model, load_tokenizer\n"
        "load_tokenizer(prepare_model('default'))\n"
        "from ft_tui.cli import main\n"
        f"sys.exit(main(['train', '--model', {str(tiny_model_dir)!r}, '--data', {str(data)!r},\n"
        f"               '--max-steps', '1', '--output-dir', {str(tmp_path / 'runs')!r}, '--yes']))\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY")}
    with HubServer({}) as server:
        env.update(HF_ENDPOINT=server.url, PYTHONPATH=str(ROOT), HF_HOME=str(tmp_path / "hf"))
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                              timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Done: finished 1 steps" in proc.stdout
    assert server.requests == []


@pytest.mark.slow
def test_the_converted_default_model_served_by_the_hub_downloads_and_trains(online, monkeypatch, capsys):
    """The real 135M model (ft-tui's converted copy of the default, ~260 MB) as a hub repo."""
    from ft_tui.core.models.resolve import converted_dir, prepare_model, resolve_model
    from tests.test_training_runner import write_data

    folder = converted_dir(resolve_model("default"))
    if not (folder / "config.json").is_file():
        prepare_model("default")   # converts once (~20 s)
    data = write_data(online / "train.jsonl")
    with _serve(monkeypatch, HubServer({"someorg/SmolLM2-copy": folder})):
        code, out, err = _cli(capsys, "train", "--model", "someorg/SmolLM2-copy", "--data", data,
                              "--max-steps", 1, "--output-dir", online / "runs", "--run-name", "r",
                              "--yes")
    assert code == 0, err
    assert "someorg/SmolLM2-copy: 134.5M parameters" in err and "Downloading someorg/SmolLM2-copy" in err
    assert "Done: finished 1 steps" in out

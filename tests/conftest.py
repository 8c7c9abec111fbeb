import os
import sys
from pathlib import Path

import pytest

# No hub access in tests: fail fast instead of waiting for a network timeout.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # so tests can import tests.fixtures
SAMPLE_DATA = ROOT / "sample_data"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-weight tiny Llama folder with a ChatML tokenizer (built once per session)."""
    from tests.fixtures.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(autouse=True)
def _tiny_model_answers_stay_in_tmp(request, monkeypatch, tmp_path_factory):
    """The tiny model's base answers would otherwise be cached under the real
    ~/.cache/ft-tui/base_answers, one new file per test session (its folder is a new temp
    path each time). Tests that ask for isolated_cache have their own already."""
    if "tiny_model_dir" in request.fixturenames and "isolated_cache" not in request.fixturenames:
        monkeypatch.setenv("FT_TUI_CACHE", str(tmp_path_factory.mktemp("ft-tui-cache")))


@pytest.fixture(autouse=True)
def _gguf_converter_only_where_asked(request, monkeypatch):
    """scripts/setup.sh installs llama.cpp's converter into the venv; tests of the other
    paths (a converter on PATH, none at all) must not find it. Tests marked
    ``real_gguf_converter`` (tests/test_gguf.py) use it."""
    if request.node.get_closest_marker("real_gguf_converter") is None:
        from ft_tui.core.export import gguf

        monkeypatch.setattr(gguf, "bundled_converter", lambda: None)


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """Point ft-tui's cache at a temp folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("FT_TUI_CACHE", str(cache))
    return cache

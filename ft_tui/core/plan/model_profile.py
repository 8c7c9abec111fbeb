"""The shape of a model (parameters, layers, widths, vocabulary) without loading weights.

Sources, first match wins:

1. a local folder or a hub id already in the Hugging Face cache: ``config.json`` for the
   shape, parameters counted from the safetensors headers (a few KB read per file), or,
   without safetensors, by building the model on the meta device;
2. a ``.gguf`` file, including the embedded default model: its metadata and tensor table;
3. a small built-in table of common models matched by name, so ``ft-tui hw --model
   meta-llama/Llama-3.1-70B`` can plan for a model that is not on this machine.

The GGUF header is parsed directly (core/models/gguf_file.py), not with
``gguf.GGUFReader``, which took 7 s on the default model against 45 ms.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

from ft_tui.core.models.gguf_file import read_gguf_header
from ft_tui.core.models.resolve import ModelNotFound, resolve_model


@dataclass(frozen=True)
class ModelProfile:
    name: str
    params: int                 # every parameter, tied embeddings counted once
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied_embeddings: bool
    dtype: str                  # how the weights are stored: bfloat16, float32, Q4_1 ...
    source: str                 # where the numbers came from, in words
    model_type: str = "llama"   # config.json's model_type / GGUF architecture
    max_positions: int | None = None

    @property
    def embedding_params(self) -> int:
        """Input embeddings plus a separate lm_head when the two are not tied."""
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def lm_head_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def norm_params(self) -> int:
        return (2 * self.layers + 1) * self.hidden

    @property
    def block_linear_params(self) -> int:
        """Parameters in the decoder blocks' linear layers: what QLoRA stores in 4 bits."""
        return max(0, self.params - self.embedding_params - self.norm_params)

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def attn_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def size_label(self) -> str:
        return f"{self.params / 1e9:.2f}B" if self.params >= 1e9 else f"{self.params / 1e6:.0f}M"

    def to_dict(self) -> dict:
        return {**asdict(self), "size": self.size_label}


def model_profile(name: str) -> ModelProfile:
    """Profile ``name`` ('default', a folder, a .gguf file, a cached hub id or a known model
    name). Raises ModelNotFound, with what to do, when none of the sources knows it."""
    try:
        resolved = resolve_model(name)
    except ModelNotFound as exc:
        known = known_model(name)
        if known is not None:
            return known
        raise ModelNotFound(f"{exc}. {_known_hint()}") from None
    if resolved.is_gguf:
        return profile_from_gguf(resolved.path, display=resolved.display)  # type: ignore[arg-type]
    if resolved.path is not None:
        return profile_from_folder(resolved.path, display=resolved.display if resolved.kind == "local"
                                   else resolved.name)
    known = known_model(name)
    if known is not None:
        return known
    raise ModelNotFound(
        f"{name} is not in the local Hugging Face cache and not one of the models ft-tui knows "
        f"by name. Download it first (`ft-tui download {name}`) or pass a local folder "
        f"or .gguf file. {_known_hint()}")


# ----- local folders --------------------------------------------------------------------

_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64",
           "I8": "int8", "U8": "uint8", "F8_E4M3": "float8_e4m3fn"}


def profile_from_folder(folder: Path, display: str | None = None) -> ModelProfile:
    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotFound(f"{folder / 'config.json'}: cannot read the model config ({exc})") from None
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    shape = _shape_from_config({**config, **text})
    counted = None if config.get("quantization_config") else _count_safetensors(folder)
    if counted is not None:
        params, names, stored = counted
        tied = "lm_head.weight" not in names and not any(n.endswith(".lm_head.weight") for n in names)
        how = "config.json + safetensors headers"
    else:
        params, stored, tied = _count_on_meta_device(folder), None, shape["tied"]
        how = "config.json + meta-device model"
        if params is None:
            params = _analytic_params(**{k: shape[k] for k in _DIMS}, tied=tied)
            how = "config.json (parameters computed from the shape)"
    dtype = str(text.get("torch_dtype") or text.get("dtype") or config.get("torch_dtype")
                or config.get("dtype") or stored or "unknown")
    return ModelProfile(name=display or folder.name, params=params, tied_embeddings=tied, dtype=dtype,
                        source=f"{how} in {folder}",
                        **{k: shape[k] for k in (*_DIMS, "model_type", "max_positions")})


_DIMS = ("layers", "hidden", "heads", "kv_heads", "head_dim", "intermediate", "vocab")


def _shape_from_config(c: dict) -> dict:
    def first(*keys, default=None):
        for key in keys:
            if c.get(key) is not None:
                return c[key]
        return default

    hidden = first("hidden_size", "n_embd", "d_model")
    layers = first("num_hidden_layers", "n_layer", "num_layers")
    heads = first("num_attention_heads", "n_head")
    vocab = first("vocab_size")
    if not all(isinstance(v, int) and v > 0 for v in (hidden, layers, heads, vocab)):
        raise ModelNotFound("config.json lacks hidden_size, num_hidden_layers, num_attention_heads "
                            "or vocab_size: is this a causal language model?")
    model_type = str(first("model_type", default="unknown"))
    return {
        "hidden": hidden, "layers": layers, "heads": heads, "vocab": vocab,
        "kv_heads": first("num_key_value_heads", "n_head_kv", default=heads),
        "head_dim": first("head_dim", default=hidden // heads),
        "intermediate": first("intermediate_size", "n_inner", "ffn_dim", default=4 * hidden),
        # Config files omit values equal to their class default: Gemma ties by default.
        "tied": bool(first("tie_word_embeddings", default=model_type.startswith("gemma"))),
        "model_type": model_type,
        "max_positions": first("max_position_embeddings", "n_positions"),
    }


def _count_safetensors(folder: Path) -> tuple[int, set[str], str | None] | None:
    """(parameters, tensor names, stored dtype) from the headers, or None without files."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total, names, dtype = 0, set(), None
    for file in files:
        try:
            with open(file, "rb") as fh:  # a hub snapshot's file is a symlink to its blob
                (size,) = struct.unpack("<Q", fh.read(8))
                header = json.loads(fh.read(size))
        except (OSError, ValueError, struct.error):
            return None  # a missing blob or a damaged file: count another way
        for key, info in header.items():
            if key == "__metadata__" or key in names:
                continue
            names.add(key)
            count = 1
            for dim in info.get("shape", []):
                count *= dim
            total += count
            dtype = dtype or _DTYPES.get(info.get("dtype", ""), info.get("dtype"))
    return total, names, dtype


def _count_on_meta_device(folder: Path) -> int | None:
    """Parameters of the model built on the meta device (no memory, no weights read)."""
    try:
        from accelerate import init_empty_weights
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError:
        return None
    try:
        config = AutoConfig.from_pretrained(str(folder))
        with init_empty_weights():
            model = AutoModelForCausalLM.from_config(config)
        model.tie_weights()  # init_empty_weights leaves a tied lm_head as its own parameter
    except (ValueError, KeyError, OSError, ImportError, TypeError):
        return None  # an architecture this transformers does not know: use the formula
    return sum(p.numel() for p in model.parameters())


def _analytic_params(*, layers, hidden, heads, kv_heads, head_dim, intermediate, vocab, tied) -> int:
    """A Llama-style decoder: attention, gated MLP, two norms per layer."""
    attention = hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2
    mlp = 3 * hidden * intermediate
    per_layer = attention + mlp + 2 * hidden
    return layers * per_layer + hidden + vocab * hidden * (1 if tied else 2)


# ----- GGUF -----------------------------------------------------------------------------

def profile_from_gguf(path: Path, display: str | None = None) -> ModelProfile:
    try:
        meta, tensors = read_gguf_header(path)
    except (OSError, ValueError, struct.error, UnicodeDecodeError) as exc:
        raise ModelNotFound(f"{path}: not a readable GGUF file ({exc})") from None
    arch = str(meta.get("general.architecture", "llama"))

    def key(name, default=None):
        return meta.get(f"{arch}.{name}", default)

    hidden, layers, heads = key("embedding_length"), key("block_count"), key("attention.head_count")
    if not all(isinstance(v, int) and v > 0 for v in (hidden, layers, heads)):
        raise ModelNotFound(f"{path}: the GGUF metadata has no {arch}.embedding_length, "
                            "block_count or attention.head_count")
    vocab = key("vocab_size") or meta.get("tokenizer.ggml.tokens") or 0
    types = {t for name, (_, t) in tensors.items() if name.startswith("blk.")}
    return ModelProfile(
        name=display or Path(path).stem, params=sum(n for n, _ in tensors.values()),
        layers=layers, hidden=hidden, heads=heads, kv_heads=key("attention.head_count_kv", heads),
        head_dim=key("rope.dimension_count", hidden // heads),
        intermediate=key("feed_forward_length", 4 * hidden), vocab=int(vocab),
        tied_embeddings="output.weight" not in tensors,
        dtype="/".join(sorted(types)) or "unknown", source=f"GGUF metadata of {path}",
        model_type=arch, max_positions=key("context_length"))


# ----- the built-in table ---------------------------------------------------------------

# Published config.json values. (display, name pattern, model_type, params, layers, hidden,
# heads, kv_heads, head_dim, intermediate, vocab, tied, max positions)
_KNOWN = [
    ("Llama-3.1-8B", r"llama-?3(\.1)?-8b", "llama", 8_030_261_248, 32, 4096, 32, 8, 128, 14336, 128256, False, 131072),
    ("Llama-3.1-70B", r"llama-?3(\.[13])?-70b", "llama", 70_553_706_496, 80, 8192, 64, 8, 128, 28672, 128256, False, 131072),
    ("Llama-2-7B", r"llama-?2-7b", "llama", 6_738_415_616, 32, 4096, 32, 32, 128, 11008, 32000, False, 4096),
    ("Llama-2-13B", r"llama-?2-13b", "llama", 13_015_864_320, 40, 5120, 40, 40, 128, 13824, 32000, False, 4096),
    ("LLaMA-65B", r"llama-?(1-)?65b", "llama", 65_285_652_480, 80, 8192, 64, 64, 128, 22016, 32000, False, 2048),
    ("Mistral-7B", r"mistral-7b", "mistral", 7_241_732_096, 32, 4096, 32, 8, 128, 14336, 32000, False, 32768),
    ("Qwen2.5-0.5B", r"qwen2\.5-0\.5b", "qwen2", 494_032_768, 24, 896, 14, 2, 64, 4864, 151936, True, 32768),
    ("Qwen2.5-1.5B", r"qwen2\.5-1\.5b", "qwen2", 1_543_714_304, 28, 1536, 12, 2, 128, 8960, 151936, True, 32768),
    ("Qwen2.5-7B", r"qwen2\.5-7b", "qwen2", 7_615_616_512, 28, 3584, 28, 4, 128, 18944, 152064, False, 32768),
    ("Gemma-2-2B", r"gemma-?2-2b", "gemma2", 2_614_341_888, 26, 2304, 8, 4, 256, 9216, 256000, True, 8192),
    ("Gemma-2-9B", r"gemma-?2-9b", "gemma2", 9_241_705_984, 42, 3584, 16, 8, 256, 14336, 256000, True, 8192),
    ("Phi-3-mini", r"phi-?3(\.5)?-mini", "phi3", 3_821_079_552, 32, 3072, 32, 32, 96, 8192, 32064, False, 4096),
    ("SmolLM2-135M", r"smollm2-135m", "llama", 134_515_008, 30, 576, 9, 3, 64, 1536, 49152, True, 8192),
    ("SmolLM2-360M", r"smollm2-360m", "llama", 361_821_120, 32, 960, 15, 5, 64, 2560, 49152, True, 8192),
    ("SmolLM2-1.7B", r"smollm2-1\.7b", "llama", 1_711_376_384, 24, 2048, 32, 32, 64, 8192, 49152, True, 8192),
]


def known_models() -> list[ModelProfile]:
    """Every model in the built-in table, smallest first."""
    profiles = [_table_profile(row) for row in _KNOWN]
    return sorted(profiles, key=lambda p: p.params)


def known_model(name: str) -> ModelProfile | None:
    """The table entry whose pattern occurs in ``name`` (case-insensitive), or None."""
    lowered = (name or "").strip().lower().replace("_", "-").replace(" ", "-")
    for row in _KNOWN:
        if re.search(row[1], lowered):
            return _table_profile(row)
    return None


def _table_profile(row) -> ModelProfile:
    (display, _pattern, model_type, params, layers, hidden, heads, kv, head_dim, inter, vocab, tied,
     max_pos) = row
    return ModelProfile(name=display, params=params, layers=layers, hidden=hidden, heads=heads,
                        kv_heads=kv, head_dim=head_dim, intermediate=inter, vocab=vocab,
                        tied_embeddings=tied, dtype="bfloat16",
                        source="ft-tui's built-in table (published config.json)",
                        model_type=model_type, max_positions=max_pos)


def _known_hint() -> str:
    return "Models known by name without download: " + ", ".join(p.name for p in known_models()) + "."

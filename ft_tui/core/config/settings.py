"""The one typed run configuration.

The wizard fills it, the CLI reads it from YAML, and every run writes it into its run
directory. Each field carries its own help text and allowed range in ``metadata`` so the
UI, the CLI and the validator all read the same source.

Values are type-checked by field name (a YAML list or number where text is expected, or a
NaN/inf number, is an error rather than a silently different setting).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ft_tui.core.atomic import atomic_write_text

METHODS = ("lora", "qlora", "full")
# What the model learns from: sft = demonstrations (one answer per prompt); dpo = pairs of a
# better and a worse answer (Rafailov et al. 2023, arXiv:2305.18290); kto = single answers
# marked good or bad (Ethayarajh et al. 2024, arXiv:2402.01306); orpo = pairs with no
# reference model (Hong et al. 2024, arXiv:2403.07691). Each is a module in core/objectives/.
OBJECTIVES = ("sft", "dpo", "kto", "orpo")
PREFERENCE_OBJECTIVES = ("dpo", "kto", "orpo")
# The loss types of TRL 1.16's DPOConfig (trl/trainer/dpo_config.py) offered here.
DPO_LOSSES = ("sigmoid", "ipo", "hinge", "robust", "bco_pair", "sppo_hard", "nca_pair",
              "apo_zero", "apo_down", "sigmoid_norm")
KTO_LOSSES = ("kto", "apo_zero_unpaired")
# The losses each objective's TRL trainer takes (ORPO has one loss of its own: none here).
OBJECTIVE_LOSSES = {"dpo": DPO_LOSSES, "kto": KTO_LOSSES}
REFERENCES = ("auto", "adapter_disabled", "copy", "precomputed")


def opt(default: Any, help: str, *, min: float | None = None, max: float | None = None,
        choices: tuple | None = None, factory: Any = None, check: Any = None) -> Any:
    """A config field with help text and an allowed range or set of choices. ``check``
    (value -> problem text or None) tests what the value means, beyond its type and range."""
    meta = {"help": help, "min": min, "max": max, "choices": choices, "check": check}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# ----- checks by meaning (field metadata "check"): the form, the YAML and --set share them -----
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _modules_check(value: str) -> str | None:
    """'all-linear', or module names such as q_proj,v_proj (a stray '10' is not one)."""
    if value.strip() in ("all-linear", ""):
        return None
    names = [n.strip() for n in value.split(",")]
    bad = [n for n in names if not _MODULE_NAME.fullmatch(n)]
    if bad:
        return (f"{', '.join(repr(b) for b in bad)} is not a module name; use 'all-linear' or "
                "a comma-separated list of layer names such as 'q_proj,v_proj'")
    return None


def _steps_check(value: int) -> str | None:
    if value == 0 or value < -1:
        return (f"{value} would train nothing; use -1 to train for training.epochs, or a "
                "positive number of steps")
    return None


def _not_empty(what: str):
    def check(value: str) -> str | None:
        return None if value.strip() else f"empty; give {what}"
    return check


def _url_check(value: str) -> str | None:
    if value.strip() and not value.strip().startswith(("http://", "https://")):
        return f"{value!r} is not a URL; give http(s)://host[:port]/v1 or leave it empty (no judge)"
    return None


class ConfigError(ValueError):
    """A config value is unknown or out of range. ``problems`` lists every one."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class ModelConfig:
    name: str = opt("default", "Model to fine-tune: 'default' (the embedded SmolLM2-135M-Instruct), "
                    "a local folder, a .gguf file or a Hugging Face hub id (org/name; downloaded "
                    "once into the Hugging Face cache).",
                    check=_not_empty("'default', a folder or a hub id"))
    revision: str = opt("", "Hub models: the commit (or branch) to use. Empty: the latest; a run "
                        "records the commit it trained on here, so resume, eval and export use it.")
    offline: bool = opt(False, "Never contact the Hugging Face Hub: hub models must already be in "
                        "the cache (as with HF_HUB_OFFLINE=1).")
    trust_remote_code: bool = opt(False, "Run Python code shipped with the model. Leave off unless "
                                  "you trust the model's authors.")
    attention: str = opt("auto", "Attention kernel. 'auto': FlashAttention-2 on Ampere or newer GPUs "
                         "when the flash-attn package is installed, else PyTorch SDPA.",
                         choices=("auto", "sdpa", "eager", "flash_attention_2"))
    dtype: str = opt("auto", "Weights dtype while training. 'auto' picks bf16 on GPUs that support it, "
                     "fp16 on older GPUs and fp32 on CPU.",
                     choices=("auto", "bfloat16", "float16", "float32"))


@dataclass
class DataConfig:
    train_path: str = opt("sample_data/ticket_triage/train.jsonl",
                          "Training file: JSONL/JSON/text in OpenAI chat, ShareGPT, Alpaca, "
                          "prompt/completion or '###' text.",
                          check=_not_empty("the path of your training file"))
    eval_path: str = opt("", "Held-out file. Empty: split eval_fraction off the training file.")
    eval_fraction: float = opt(0.1, "Share of the training file held out when there is no eval file.",
                               min=0.0, max=0.5)
    max_length: int = opt(512, "Longest example in tokens; longer ones are truncated. Match your "
                          "data: padding wastes compute.", min=32, max=32768)
    system_prompt: str = opt("", "System message added to every example that has none "
                             "(also used when prompting the base model).")
    train_on: str = opt("all_assistant", "Which answers of a conversation are trained: every "
                        "assistant turn, or the last one only.",
                        choices=("all_assistant", "last_assistant"))


@dataclass
class LoraConfig:
    r: int = opt(16, "Adapter rank: capacity of the update. 8-16 for most tasks, 32-64 for "
                 "complex ones or lots of data.", min=1, max=256)
    alpha: int = opt(32, "Scaling of the update (alpha/r). Usually 2 x rank.", min=1, max=1024)
    dropout: float = opt(0.05, "Dropout on the adapter layers; 0.05-0.1 helps small data sets.",
                         min=0.0, max=0.5)
    target_modules: str = opt("all-linear", "Layers that get adapters: 'all-linear' or a "
                              "comma-separated list such as 'q_proj,v_proj'.", check=_modules_check)


@dataclass
class QLoraConfig:
    quant_type: str = opt("nf4", "4-bit data type of the frozen base weights.", choices=("nf4", "fp4"))
    double_quant: bool = opt(True, "Quantise the quantisation constants too (saves ~0.4 bit/param).")
    compute_dtype: str = opt("bfloat16", "Dtype the 4-bit weights are expanded to for matmuls.",
                             choices=("bfloat16", "float16", "float32"))


@dataclass
class TrainingConfig:
    learning_rate: float = opt(2e-4, "Peak learning rate. 1e-4..2e-4 for LoRA, 1e-5..5e-5 for full "
                               "fine-tuning; lower for larger models.", min=1e-6, max=1e-3)
    epochs: float = opt(3.0, "Passes over the training data. More data needs fewer epochs.",
                        min=0.1, max=20)
    max_steps: int = opt(-1, "Stop after this many optimizer steps (-1: use epochs).", min=-1,
                         max=10_000_000, check=_steps_check)
    batch_size: int = opt(4, "Examples per device per step; limited by memory.", min=1, max=1024)
    gradient_accumulation: int = opt(4, "Steps summed before each update: effective batch = "
                                     "batch_size x this x GPUs.", min=1, max=1024)
    warmup_ratio: float = opt(0.05, "Share of steps spent warming the learning rate up (5-10 %).",
                              min=0.0, max=0.5)
    scheduler: str = opt("cosine", "Learning-rate decay after warm-up.",
                         choices=("cosine", "linear", "constant", "constant_with_warmup"))
    weight_decay: float = opt(0.01, "AdamW weight decay (0.01-0.1).", min=0.0, max=0.5)
    optimizer: str = opt("adamw_torch", "Optimizer. paged_adamw_8bit saves memory on CUDA.",
                         choices=("adamw_torch", "adamw_torch_fused", "paged_adamw_8bit", "adamw_8bit", "sgd"))
    precision: str = opt("auto", "Mixed precision: auto = bf16 where the GPU supports it, else fp16 "
                         "on GPU; on a CPU bf16 autocast where it has AVX512-BF16 or AMX, else fp32.",
                         choices=("auto", "bf16", "fp16", "fp32"))
    gradient_checkpointing: bool = opt(False, "Recompute activations in the backward pass: ~20-30 % "
                                       "slower, much less activation memory.")
    packing: bool = opt(False, "Pack several short examples into one sequence (faster on short data).")
    # Off by default: on the ticket-triage sample, where length goes with the answer, 90
    # LoRA steps reached 0.85 JSON field match with random batches and 0.55-0.59 grouped,
    # at the same speed (tests/bench/RESULTS.md, "length grouping").
    group_by_length: bool = opt(False, "Batch examples of similar length together: less padding, "
                                "but batches of alike examples can learn worse when length goes "
                                "with the answer. Try it on data of very mixed lengths.")
    use_liger_kernel: bool = opt(False, "Liger's fused Triton kernels (RMSNorm, SwiGLU, RoPE, loss): "
                                 "less activation memory on CUDA GPUs; needs the liger-kernel package.")
    completion_only_loss: bool = opt(True, "Compute the loss on the assistant's answer only, "
                                     "not on the prompt.")
    logging_steps: int = opt(1, "Log loss and learning rate every N steps.", min=1, max=10_000)
    eval_steps: int = opt(10, "Evaluate on the held-out split every N steps (0: once per epoch).",
                          min=0, max=1_000_000)
    max_eval_rows: int = opt(32, "Held-out rows scored at each in-training evaluation (0: all); "
                             "a fixed subset keeps an evaluation short.", min=0, max=1_000_000)
    save_steps: int = opt(20, "Save a resumable checkpoint every N steps.", min=1, max=1_000_000)
    save_total_limit: int = opt(2, "Keep only the newest N checkpoints.", min=1, max=100)
    early_stopping_patience: int = opt(0, "Stop when eval loss has not improved for N evals (0: off).",
                                       min=0, max=100)
    sample_every_steps: int = opt(20, "Generate answers for a few fixed eval prompts every N "
                                  "steps (0: off).", min=0, max=1_000_000)
    seed: int = opt(42, "Random seed for data order, splits and initialisation.", min=0, max=2**31 - 1)


@dataclass
class PreferenceConfig:
    beta: float = opt(0.1, "How far the tuned model may move from the reference: higher keeps it "
                      "closer (DPO paper: 0.1; 0.01-0.5 in practice).", min=0.001, max=10.0)
    loss_type: str = opt("sigmoid", "DPO loss: sigmoid is the original DPO; ipo (arXiv:2310.12036) is "
                         "more robust to noisy or near-deterministic preferences; the rest are "
                         "TRL's variants. KTO uses 'kto' or 'apo_zero_unpaired'.",
                         choices=DPO_LOSSES + KTO_LOSSES)
    reference: str = opt("auto", "Reference model the policy is compared with. auto: the base with "
                         "the adapter switched off for LoRA/QLoRA (no second copy), a frozen copy "
                         "for full fine-tuning; precomputed: score the data with the reference once "
                         "before training, then drop it (saves memory, costs one pass).",
                         choices=REFERENCES)
    init_adapter: str = opt("", "Start from this SFT run's adapter ('SFT first, then DPO'): a run "
                            "directory or an adapter folder. Empty: start from the base model. "
                            "The reference is then the SFT model.")
    desirable_weight: float = opt(1.0, "KTO only: weight of the good answers' loss (raise it when "
                                  "they are the minority).", min=0.01, max=100.0)
    undesirable_weight: float = opt(1.0, "KTO only: weight of the bad answers' loss.",
                                    min=0.01, max=100.0)


@dataclass
class EvalConfig:
    max_examples: int = opt(100, "Held-out examples to score (0: all).", min=0, max=1_000_000)
    max_new_tokens: int = opt(128, "Longest answer generated per example.", min=1, max=8192)
    few_shot: int = opt(0, "Examples from the training set shown to the base model in its prompt "
                        "(0: zero-shot baseline).", min=0, max=16)
    judge_url: str = opt("", "OpenAI-compatible endpoint for an optional LLM judge (empty: off). "
                         "The API key is read from FT_TUI_JUDGE_API_KEY and never stored.",
                         check=_url_check)
    judge_model: str = opt("", "Model name to ask at judge_url.")


@dataclass
class RunConfig:
    model: ModelConfig = opt(None, "Which model to fine-tune.", factory=ModelConfig)
    data: DataConfig = opt(None, "Training and held-out data.", factory=DataConfig)
    objective: str = opt("sft", "What the model learns from. sft: example answers; dpo: pairs of a "
                         "chosen and a rejected answer per prompt; kto: answers labelled good or bad; "
                         "orpo: pairs like dpo, without a reference model (less memory).",
                         choices=OBJECTIVES)
    method: str = opt("lora", "full: all weights (most memory); lora: small adapters on a frozen "
                      "base; qlora: LoRA on a 4-bit base (least memory, CUDA).", choices=METHODS)
    lora: LoraConfig = opt(None, "Adapter settings (lora and qlora).", factory=LoraConfig)
    qlora: QLoraConfig = opt(None, "4-bit quantisation settings (qlora only).", factory=QLoraConfig)
    preference: PreferenceConfig = opt(None, "DPO / KTO settings (objective dpo or kto).",
                                       factory=PreferenceConfig)
    training: TrainingConfig = opt(None, "Optimizer and schedule.", factory=TrainingConfig)
    eval: EvalConfig = opt(None, "Base vs fine-tuned comparison.", factory=EvalConfig)
    output_dir: str = opt("runs", "Folder where each run gets its own directory.",
                          check=_not_empty("a folder such as 'runs'"))
    run_name: str = opt("", "Name of the run directory (empty: method-model-timestamp).")

    # ----- conversions -------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "RunConfig":
        """Build from a (possibly partial) nested dict. Raises ConfigError listing every
        unknown key and bad value."""
        problems: list[str] = []
        cfg = _build(cls, data or {}, "", problems)
        problems.extend(_check(cfg, ""))
        if not problems:
            problems.extend(_check_preference(cfg))
            problems.extend(_check_run_name(cfg))
        if problems:
            raise ConfigError(problems)
        return cfg

    def validate(self) -> None:
        problems = list(_check(self, ""))
        problems.extend(_check_preference(self))
        problems.extend(_check_run_name(self))
        if problems:
            raise ConfigError(problems)

    def with_overrides(self, overrides: dict[str, Any]) -> "RunConfig":
        """A copy with dotted-key overrides applied, e.g. {'training.max_steps': 30}."""
        data = self.to_dict()
        for key, value in overrides.items():
            if value is None:
                continue
            node = data
            parts = key.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        return RunConfig.from_dict(data)

    # ----- YAML --------------------------------------------------------------------
    def to_yaml(self) -> str:
        import yaml  # small, but only needed when writing

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        atomic_write_text(path, self.to_yaml())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "RunConfig":
        import yaml

        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError([f"{path}: no such config file"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{path}: cannot read ({exc})"]) from None
        from ft_tui.core.config.safe_yaml import YamlTooBig, load_yaml

        try:
            data = load_yaml(text, str(path))
        except YamlTooBig as exc:
            raise ConfigError([str(exc)]) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError([f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}"]) from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError([f"{path}: expected a mapping of settings, got {type(data).__name__}"])
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError([f"{path}: {p}" for p in exc.problems]) from None

    # ----- derived -----------------------------------------------------------------
    @property
    def effective_batch(self) -> int:
        return self.training.batch_size * self.training.gradient_accumulation

    def lora_targets(self) -> str | list[str]:
        t = self.lora.target_modules.strip()
        if t in ("all-linear", ""):
            return "all-linear"
        return [m.strip() for m in t.split(",") if m.strip()]


# ----- field introspection (used by the UI form and the CLI) ---------------------------

@dataclass(frozen=True)
class FieldInfo:
    key: str          # dotted path, e.g. "training.learning_rate"
    type: type
    default: Any
    help: str
    min: float | None
    max: float | None
    choices: tuple | None


def iter_fields(cls: type = RunConfig, prefix: str = "") -> list[FieldInfo]:
    """Every leaf setting with its help and range, in declaration order."""
    out: list[FieldInfo] = []
    hints = _hints(cls)
    for f in fields(cls):
        typ = hints[f.name]
        key = prefix + f.name
        if dataclasses.is_dataclass(typ):
            out.extend(iter_fields(typ, key + "."))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        m = f.metadata
        out.append(FieldInfo(key, typ, default, m.get("help", ""), m.get("min"), m.get("max"),
                             m.get("choices")))
    return out


def field_info(key: str) -> FieldInfo:
    for info in iter_fields():
        if info.key == key:
            return info
    raise KeyError(key)


def get_value(cfg: RunConfig, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def coerce(info: FieldInfo, raw: Any) -> Any:
    """Turn user input (a string from a form or CLI flag) into the field's type."""
    if info.type is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on", "y"):
            return True
        if text in ("0", "false", "no", "off", "n"):
            return False
        raise ValueError(f"{info.key}: expected true or false, got {raw!r}")
    if info.type is int:
        if isinstance(raw, (bool, list, dict)):
            raise ValueError(f"{info.key}: expected a whole number, got {raw!r}")
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ValueError(f"{info.key}: expected a whole number, got {raw!r}") from None
    if info.type is float:
        if isinstance(raw, (bool, list, dict)):
            raise ValueError(f"{info.key}: expected a number, got {raw!r}")
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise ValueError(f"{info.key}: expected a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"{info.key}: expected a finite number, got {raw!r}")
        return value
    if raw is None:
        return ""
    if isinstance(raw, os.PathLike):
        return os.fspath(raw)
    if not isinstance(raw, str):
        # YAML turns `name: 123` into an int and `path: [a, b]` into a list; str() of those
        # would silently become a different setting ("123", "['a', 'b']").
        raise ValueError(f"{info.key}: expected text, got {type(raw).__name__} {raw!r}"
                         " (quote it in YAML if you meant the text)")
    return raw


# ----- internals -----------------------------------------------------------------------

def _hints(cls: type) -> dict[str, type]:
    import typing

    return typing.get_type_hints(cls)


def _build(cls: type, data: Any, prefix: str, problems: list[str]) -> Any:
    if not isinstance(data, dict):
        problems.append(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
        return cls()
    hints = _hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else f" (known: {', '.join(names)})"
            problems.append(f"{prefix}{key}: unknown setting{hint}")
            continue
        typ = hints[key]
        if dataclasses.is_dataclass(typ):
            kwargs[key] = _build(typ, value if value is not None else {}, f"{prefix}{key}.", problems)
            continue
        f = next(f for f in fields(cls) if f.name == key)
        info = FieldInfo(prefix + key, typ, None, "", f.metadata.get("min"), f.metadata.get("max"),
                         f.metadata.get("choices"))
        try:
            kwargs[key] = coerce(info, value)
        except ValueError as exc:
            problems.append(str(exc))
    return cls(**kwargs)


def _check(obj: Any, prefix: str):
    hints = _hints(type(obj))
    for f in fields(obj):
        value = getattr(obj, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _check(value, key + ".")
            continue
        m = f.metadata
        lo, hi, choices = m.get("min"), m.get("max"), m.get("choices")
        if choices and value not in choices:
            yield f"{key}: {value!r} is not allowed; choose one of {', '.join(map(str, choices))}"
        if lo is not None and value < lo or hi is not None and value > hi:
            yield f"{key}: {value!r} is out of range; allowed {_fmt(lo)}..{_fmt(hi)}"
        elif m.get("check") and (problem := m["check"](value)):
            yield f"{key}: {problem}"


def _check_run_name(cfg: "RunConfig") -> list[str]:
    """run_name names one folder inside output_dir (core/config/names.py)."""
    from ft_tui.core.config.names import run_name_problem

    problem = run_name_problem(cfg.run_name)
    return [problem] if problem else []


def _check_preference(cfg: "RunConfig") -> list[str]:
    """Settings that only make sense together."""
    p, problems = cfg.preference, []
    own = OBJECTIVE_LOSSES.get(cfg.objective)
    # The default loss (sigmoid) means "the usual loss" for every objective: no error for it.
    if own is not None and p.loss_type not in own and p.loss_type != "sigmoid":
        kind = next(name for name, losses in OBJECTIVE_LOSSES.items() if p.loss_type in losses)
        problems.append(f"preference.loss_type: {p.loss_type!r} is a {kind.upper()} loss; "
                        f"{cfg.objective.upper()} takes {', '.join(own[:3])}"
                        f"{', ...' if len(own) > 3 else ''} (or use objective {kind})")
    if cfg.method == "full" and p.reference == "adapter_disabled":
        problems.append("preference.reference: adapter_disabled needs an adapter (method lora or "
                        "qlora); full fine-tuning uses 'copy' or 'precomputed'")
    if p.init_adapter.strip() and cfg.method == "full":
        problems.append("preference.init_adapter: starting from an SFT adapter needs method lora "
                        "or qlora")
    return problems


def preference_loss(cfg: "RunConfig") -> str:
    """The loss TRL is asked for: the config's, or the objective's usual one when the
    config's belongs to another objective (KTO keeping the DPO default, sigmoid)."""
    own = OBJECTIVE_LOSSES.get(cfg.objective)
    if own and cfg.preference.loss_type not in own:
        return own[0]
    return cfg.preference.loss_type


def _fmt(x: float | None) -> str:
    """As the form's help writes a bound: 10000000, not 1e+07."""
    if x is None:
        return ""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:g}"

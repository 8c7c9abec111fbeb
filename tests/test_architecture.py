"""Layering rules that keep the app fast and the core reusable."""

import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "ft_tui" / "core"
HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "bitsandbytes")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_never_imports_textual():
    offenders = [str(p) for p in CORE.rglob("*.py")
                 if any(line.lstrip().startswith(("import textual", "from textual"))
                        for line in p.read_text().splitlines())]
    assert offenders == []


def test_cli_help_imports_no_heavy_library():
    mods = _modules_after("from ft_tui.cli import build_parser; build_parser()")
    assert not [m for m in HEAVY if m in mods]
    assert "textual" not in mods


def test_core_light_modules_import_without_heavy_libraries():
    mods = _modules_after("import ft_tui.core.config.settings, ft_tui.core.models.resolve, ft_tui.core.run.rundir, "
                          "ft_tui.core.run.events")
    assert not [m for m in HEAVY if m in mods]

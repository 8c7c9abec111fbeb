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


PACKAGE = CORE.parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (top level or inside functions),
    relative imports resolved: read from the AST, so strings and comments do not count."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", ""))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value))
    return found


def _offenders(folder: Path, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for path in sorted(folder.rglob("*.py")):
        bad = sorted(m for m in imports_of(path)
                     if any(m == f or m.startswith(f + ".") for f in forbidden))
        if bad:
            out[str(path.relative_to(PACKAGE))] = bad
    return out


def test_import_graph_core_is_pure_and_tui_never_imports_commands():
    assert _offenders(CORE, ("textual", "rich", "ft_tui.tui", "ft_tui.commands")) == {}
    assert _offenders(PACKAGE / "tui", ("ft_tui.commands",)) == {}


def test_the_import_graph_check_sees_lazy_and_relative_imports(tmp_path):
    """The checker itself: an import inside a function, a relative one and an
    importlib call are all found (so the rule above cannot pass by missing them)."""
    pkg = tmp_path / "ft_tui" / "core"
    pkg.mkdir(parents=True)
    bad = pkg / "bad.py"
    bad.write_text("def f():\n    from rich.console import Console\n"
                   "from ..tui import app\nimport importlib\nimportlib.import_module('textual.app')\n"
                   "x = 'import textual'  # a string, not an import\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "ft_tui"
    try:
        found = imports_of(bad)
    finally:
        PACKAGE = saved
    assert {"rich.console", "ft_tui.tui", "textual.app"} <= found
    assert "textual" not in found


def test_cli_help_imports_no_heavy_library():
    mods = _modules_after("from ft_tui.cli import build_parser; build_parser()")
    assert not [m for m in HEAVY if m in mods]
    assert "textual" not in mods


def test_core_light_modules_import_without_heavy_libraries():
    mods = _modules_after("import ft_tui.core.config.settings, ft_tui.core.models.resolve, ft_tui.core.run.rundir, "
                          "ft_tui.core.run.events")
    assert not [m for m in HEAVY if m in mods]

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


# ----- the import graph of the whole package ----------------------------------------------

def _package_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """{module: the ft_tui modules it imports anywhere (lazy imports included)}."""
    modules = {_module_name(p): p for p in sorted(package.rglob("*.py"))}
    return {name: {m for m in imports_of(path) if m in modules and m != name}
            for name, path in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan): each is an import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_in_the_package():
    assert _circles(_package_graph()) == []


def test_the_circle_check_finds_a_lazy_circle(tmp_path):
    pkg = tmp_path / "ft_tui"
    (pkg / "core").mkdir(parents=True)
    (pkg / "core" / "a.py").write_text("def f():\n    from ft_tui.core import b\n")
    (pkg / "core" / "b.py").write_text("from ft_tui.core.a import f\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, pkg
    try:
        assert _circles(_package_graph(pkg)) == [["ft_tui.core.a", "ft_tui.core.b"]]
    finally:
        PACKAGE = saved


# The steps inside core, lowest first: a package may import its own layer and those below.
# decide.py (the Decide step's tree) sits on top; the shared foundation modules at the bottom.
LAYERS = [("atomic", "errors", "paths", "process", "quiet", "space", "wizard_file"), ("data",), ("config",), ("run",),
          ("models",), ("plan",), ("training", "objectives"), ("evaluate", "export"), ("decide",)]


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 3 or parts[1] != "core":
        return None
    return next((i for i, names in enumerate(LAYERS) if parts[2] in names), None)


def test_core_is_layered_data_config_run_models_plan_training_evaluate():
    every = {p.relative_to(CORE).parts[0].removesuffix(".py") for p in CORE.iterdir()
             if p.name != "__init__.py" and p.name != "__pycache__"}
    assert every == {name for names in LAYERS for name in names}   # every package has a place
    upward = sorted(f"{m} -> {d}" for m, deps in _package_graph().items() for d in deps
                    if _layer(m) is not None and _layer(d) is not None and _layer(d) > _layer(m))
    assert upward == []


# ----- objectives are asked, not named ------------------------------------------------------

def _names_objective(node) -> bool:
    import ast

    return ((isinstance(node, ast.Attribute) and node.attr == "objective")
            or (isinstance(node, ast.Name) and node.id == "objective"))


def _is_text(node) -> bool:
    import ast

    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return bool(node.elts) and all(_is_text(e) for e in node.elts)
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def objective_dispatch(path: Path) -> list[str]:
    """Comparisons of an objective with a name (``cfg.objective == "dpo"``, ``objective in
    ("dpo", "kto")``): the dispatch the objectives registry replaces."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.name}:{node.lineno}: {ast.unparse(node)}" for node in ast.walk(tree)
            if isinstance(node, ast.Compare)
            and any(_names_objective(n) for n in [node.left, *node.comparators])
            and any(_is_text(n) for n in [node.left, *node.comparators])]


# Allowed: the registry itself, and the UI's labels (the wizard and the CLI word what
# they show by objective). The data layer sits below the registry and only asks "is this
# plain SFT?" to say that SFT cannot use pairs or KTO rows.
DISPATCH_ALLOWED = ("core/objectives", "tui", "commands", "core/data/checks.py")


def test_no_objective_dispatch_outside_the_registry_and_the_ui_labels():
    found = [hit for path in sorted(PACKAGE.rglob("*.py"))
             if not str(path.relative_to(PACKAGE)).startswith(DISPATCH_ALLOWED)
             for hit in objective_dispatch(path)]
    assert found == []


def test_the_dispatch_check_sees_names_and_tuples(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("if cfg.objective == 'dpo':\n    pass\nok = objective in ('dpo', 'kto')\n"
                      "fine = cfg.method == 'lora'\n")
    assert [hit.split(": ")[0] for hit in objective_dispatch(sample)] == ["x.py:1", "x.py:3"]

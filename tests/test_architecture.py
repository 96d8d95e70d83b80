"""Layering rules: the engine never imports Qt; nothing imports the dlib reference; lint."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _imported_roots(package: str) -> dict[str, set[str]]:
    found = {}
    for path in (REPO / package).rglob("*.py"):
        roots = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO))] = roots
    return found


def test_engine_never_imports_qt_or_gui() -> None:
    offenders = {
        path: roots & {"PySide6", "PyQt5", "PyQt6", "shiboken6", "facenet_desktop"}
        for path, roots in _imported_roots("engine").items()
    }
    assert not {p: r for p, r in offenders.items() if r}


def test_app_never_imports_dlib() -> None:
    for package in ("engine", "facenet_desktop"):
        for path, roots in _imported_roots(package).items():
            assert "dlib" not in roots, path


def test_import_linter_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint).exists():
        pytest.skip("import-linter is not installed")
    result = subprocess.run([lint, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout and "above evaluation above" in result.stdout
    assert "jobs above questions above edits" in result.stdout  # engine.library's own layers


def test_ruff_finds_nothing() -> None:
    """The lint rules in pyproject.toml ([tool.ruff.lint]) hold for the whole tree; part of the
    README's test command, so CI runs it too."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    result = subprocess.run([ruff, "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_engine_imports_without_qt_loaded() -> None:
    code = "import sys, engine.cli, engine.faces.pipeline, engine.evaluation.verification; assert not any(m.startswith('PySide6') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


def test_window_process_never_loads_torch() -> None:
    """Loading torch holds the GIL for hundreds of milliseconds (a frozen window), so the
    modules the window imports, including those its actions import on the GUI thread, must not
    load it; engine work that needs torch runs in child processes (engine_process)."""
    modules = ["facenet_desktop.app", "facenet_desktop.child_work", "engine.library.identities.labelled_faces",
               "engine.library.storage.model_registry", "engine.library.reading.browse", "engine.library.edits.editing",
               "engine.library.storage.preferences"]
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stdout


def _reads_environment(tree: ast.AST) -> list[int]:
    """Lines that read os.environ or os.getenv (writes for child processes count too)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"} and isinstance(node.value, ast.Name) and node.value.id == "os":
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_the_environment() -> None:
    """One place knows every FACENET_* variable (issue: architecture, item 4)."""
    readers = {}
    for package in ("engine", "facenet_desktop"):
        for path in sorted((REPO / package).rglob("*.py")):
            lines = _reads_environment(ast.parse(path.read_text()))
            if lines and path != REPO / "engine" / "settings.py":
                readers[str(path.relative_to(REPO))] = lines
    assert not readers, f"read the environment through engine.settings, not directly: {readers}"


def test_settings_parse_the_environment() -> None:
    from engine.settings import Settings

    parsed = Settings.from_environment({"FACENET_DB": "/x/lib.db", "FACENET_THREADS": "3", "FACENET_PRECISION": "fp32"})
    assert parsed.database == Path("/x/lib.db") and parsed.threads == 3 and parsed.precision == "fp32"
    assert parsed.data_dir is None and parsed.cache_dir is None
    for bad in ("0", "-2", "two", ""):
        assert Settings.from_environment({"FACENET_THREADS": bad}).threads is None
    assert Settings.from_environment({}) == Settings()


def _engine_import_graph() -> dict[str, set[str]]:
    """engine module -> engine modules it imports (anywhere in the file, lazy imports too)."""
    modules = {}
    for path in (REPO / "engine").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            targets.update(n for n in names if n in modules and n != name and not name.startswith(n + "."))
        graph[name] = targets - {"engine"}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_engine_module_imports_itself_round_a_cycle() -> None:
    """Lazy imports count: a cycle hidden in a function is still a cycle (the registry and
    grouping imported each other until the switch moved above both)."""
    assert _cycles(_engine_import_graph()) == []


def test_no_module_imports_another_modules_private_names() -> None:
    offenders = []
    for package in ("engine", "facenet_desktop"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in {"engine", "facenet_desktop"}:
                    offenders += [f"{path.relative_to(REPO)}: {alias.name}" for alias in node.names if alias.name.startswith("_")]
    assert not offenders, offenders


def test_the_gui_reaches_the_database_only_through_the_engine() -> None:
    """No SQL in facenet_desktop: the window and its children ask engine.library (issue:
    architecture, item 2; app.py ran ten statements of its own)."""
    import re

    sql = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|PRAGMA)\s", re.IGNORECASE)
    found = []
    for path in sorted((REPO / "facenet_desktop").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and sql.match(node.value):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
            elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant) \
                    and sql.match(str(node.values[0].value)):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not found, found

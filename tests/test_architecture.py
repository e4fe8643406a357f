"""The architecture DESIGN.md draws, held by tests: core/ never imports Textual, and no module of
console_tui imports one that imports it back."""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import console_tui
import console_tui.core

# A backend module for an optional dependency is only importable where that dependency is.
OPTIONAL = {"console_tui.core._screen_evp": "evp"}


def test_core_imports_no_textual() -> None:
    """Import every core module in a fresh interpreter and check Textual never loaded."""
    modules = [
        m.name
        for m in pkgutil.walk_packages(console_tui.core.__path__, "console_tui.core.")
        if m.name not in OPTIONAL or importlib.util.find_spec(OPTIONAL[m.name])
    ]
    assert "console_tui.core.hub" in modules and "console_tui.core.backings.telnet" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"core pulled in Textual: {result.stdout.strip()}"


def module_paths() -> dict[str, Path]:
    """Every console_tui module by its dotted name (a package by its `__init__.py`)."""
    root = Path(console_tui.__file__).parent
    found = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The console_tui modules `name` imports when it runs: at the top or inside a function (those
    run too), but not under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(), str(path))
    type_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for statement in branch.body
        for node in ast.walk(statement)
    }
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            module = node.module or ""
            if node.level:
                module = f"{base}.{module}" if module else base
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                if submodule in known:
                    found.add(submodule)
                elif module in known:
                    found.add(module)
    return found - {name}


def test_no_import_cycle() -> None:
    """A cycle works only while every import in it stays lazy, and keeps the modules in it from
    being understood (or tested) apart; the graph of console_tui's own imports has none."""
    known = module_paths()
    graph = {name: imported_modules(name, path, known) for name, path in known.items()}
    assert "console_tui.ui.screens.help" in graph["console_tui.ui.screens.main"]
    assert "console_tui.ui.app" in graph["console_tui.ui"], "imports inside a function count"
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_a_module_past_400_lines_says_why() -> None:
    """A long module is a smell unless its docstring gives the reason (and says "400 lines")."""
    package = Path(console_tui.__file__).parent
    unexplained = []
    for path in sorted(package.rglob("*.py")):
        source = path.read_text()
        if source.count("\n") > 400:
            docstring = ast.get_docstring(ast.parse(source)) or ""
            if "400 lines" not in docstring:
                unexplained.append(str(path.relative_to(package)))
    assert unexplained == []

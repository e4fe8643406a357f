"""The architecture DESIGN.md draws, held by tests: core/ never imports Textual."""

from __future__ import annotations

import importlib.util
import pkgutil
import subprocess
import sys

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

"""Shared fixtures: every test runs with its own config, state and runtime dirs.

Tests that need a real peer (the demo guest, socat, ser2net, ssh) use `need_command`: it skips on a
developer machine without the peer but fails in CI (`CI=true`), where every peer must be installed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need_command(*commands: str) -> None:
    """Skip (locally) or fail (in CI) unless every command is on PATH."""
    missing = [c for c in commands if shutil.which(c) is None]
    if missing:
        message = f"needs {', '.join(missing)} (make test installs them)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def table_rows(text: str) -> dict[str, dict[str, str]]:
    """The `list` table as {target: {column: value}} (values hold no spaces in these tests)."""
    header, *rows = text.splitlines()
    names = header.split()
    return {row.split()[0]: dict(zip(names, row.split(), strict=True)) for row in rows}


@pytest.fixture(autouse=True)
def private_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point platformdirs (XDG) at a fresh folder so tests never touch the user's files."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_RUNTIME_DIR", "run"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        (home / sub).mkdir(mode=0o700)
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("CONSOLE_TUI_CONFIG", raising=False)
    # Only configured targets, unless a test turns discovery on: this machine runs other QEMUs.
    monkeypatch.setenv("CONSOLE_TUI_DISCOVERY", "off")
    return home


@pytest.fixture(scope="session")
def guest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("guest")


@pytest.fixture(scope="session")
def guest(guest_dir: Path) -> Iterator[object]:
    """The demo guest (a real Linux under QEMU), booted once per test run, shared by tests.

    Tests that crash or reboot it (NMI, reset) wait for its ready line again before they end.
    """
    need_command("qemu-system-x86_64", "busybox")
    from console_tui.core import lab

    demo = lab.Lab(guest_dir)
    info = demo.up(timeout=120)
    try:
        yield info
    finally:
        demo.down()

"""The smaller things an operator trips over: help that spells keys one way and tells about copy
and paste, a paste question that does not say "about 0 s", a bad key name listed once, the Python
finder that honours $PYENV_ROOT, and a first `serve` start that says what it is doing.

Real parts: the app under Pilot, the CLI and `serve` as subprocesses, the shell script as run by
`make`, ssh-keygen's keys.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import APP_SIZE, cli, make_config, target
from peers import Keys, start_server, users_toml
from rich.console import Console
from textual.widgets import Static

from console_tui.ui.app import ConsoleApp
from console_tui.ui.dialogs.paste import PasteDialog
from console_tui.ui.screens.help import HelpScreen

ROOT = Path(__file__).resolve().parents[1]


async def test_help_spells_keys_one_way_and_tells_about_copy_and_paste(tmp_path: Path) -> None:
    app = ConsoleApp(make_config(tmp_path, target("vm", tmp_path / "vm.sock")), probe=False)
    async with app.run_test(size=APP_SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=120, record=True, file=io.StringIO())
        for static in app.screen.query(Static):
            console.print(static.content)
        words = console.export_text()
    assert not re.search(r"\^[a-z\]]", words), "keys spelled ^q beside Ctrl+]"
    for wanted in ("Ctrl+Q", "Ctrl+]", "Ctrl+F6", "Shift+PgUp", "F6"):
        assert wanted in words, wanted
    assert "Copy and paste" in words and "copies the selection" in words
    assert "your terminal's paste" in words


def test_a_short_long_paste_does_not_say_0_s() -> None:
    dialog = PasteDialog(2049, limit=2048, baud=115200)
    assert "under a second" in dialog.detail and "0 s" not in dialog.detail
    assert "about 87 s" in PasteDialog(1_000_000, limit=2048, baud=115200).detail


def test_an_unknown_key_lists_the_keys_once_before_touching_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(target("vm", tmp_path / "absent.sock"))
    result = cli("--config", str(path), "send", "vm", "--key", "f13")
    assert result.returncode == 2, result.stderr
    assert "unknown key 'f13'" in result.stderr
    assert result.stderr.count("pgup") == 1, result.stderr
    assert "does not exist" not in result.stderr, "refused before dialling the console"


def test_find_python_looks_in_pyenv_root(tmp_path: Path) -> None:
    """A pyenv elsewhere than ~/.pyenv ($PYENV_ROOT), the only Python >= 3.13 on the machine."""
    versions = tmp_path / "pyenv" / "versions" / "3.13.9" / "bin"
    versions.mkdir(parents=True)
    (versions / "python3.13").symlink_to(os.path.realpath(sys.executable))
    (tmp_path / "bin").mkdir()
    env = {
        "PATH": str(tmp_path / "bin"),  # no Python on PATH: pyenv's is the first place to look
        "HOME": str(tmp_path / "home"),
        "PYENV_ROOT": str(tmp_path / "pyenv"),
    }
    found = subprocess.run(
        ["/bin/sh", str(ROOT / "tools" / "find-python")], capture_output=True, text=True, env=env
    ).stdout.strip()
    assert found == str(versions / "python3.13")


def test_the_first_serve_start_says_it_makes_the_host_key(tmp_path: Path, keys: Keys) -> None:
    config = target("vm", tmp_path / "vm.sock") + users_toml(keys, {"alice": "admin"}, {})
    said = []
    for run in ("first", "second"):
        folder = tmp_path / run
        folder.mkdir()
        server = start_server(folder, config, keys)
        server.stop()
        said.append(server.banner)
    first, second = said
    assert first.startswith("console-tui: starting the SSH server")
    making = first.index("making the SSH host key (first start only)")
    assert making < first.index("SSH server on")
    assert "making the SSH host key" not in second

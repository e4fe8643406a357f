"""After the README's set-up (`lab up`), the README's own examples work as typed in a new shell,
without --config: `list`, `send demo ...`, `attach demo`. From a fresh home (private XDG dirs),
against the real demo guest.
"""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Tmux, cli, table_rows

from console_tui import lab
from console_tui.core import config, paths


@pytest.mark.guest
def test_readme_examples_work_after_lab_up(
    guest: lab.LabInfo, tmux: Callable[[int, int], Tmux]
) -> None:
    default = paths.config_dir() / "config.toml"
    assert not default.exists(), "a fresh home"
    said = lab.adopt_as_default(guest.config_path)  # what `console-tui lab up` does after booting
    assert str(default) in said and "attach demo" in said
    assert stat.S_IMODE(default.stat().st_mode) == 0o600
    assert config.load(default).target("demo").console == f"unix://{guest.serial_socket}?telnet=1"

    listed = cli("list")
    assert listed.returncode == 0, listed.stderr
    assert table_rows(listed.stdout)["demo"]["STATE"] == "reachable"
    sent = cli("send", "demo", "--text", "echo readme-$((6*7))\\r", "--wait", "3")
    assert sent.returncode == 0, sent.stderr
    assert "readme-42" in sent.stdout
    terminal = tmux(80, 24)
    terminal.start(sys.executable, "-m", "console_tui", "attach", "demo")
    terminal.wait_for("console connected")
    terminal.send("echo attached-$((6*7))", "Enter")
    terminal.wait_for("attached-42")
    terminal.send("", "Enter")
    terminal.send("~.")
    terminal.wait_for("detached")

    assert "has the demo target" in lab.adopt_as_default(guest.config_path)


def test_an_existing_config_is_left_as_it_is(tmp_path: Path) -> None:
    lab_config = tmp_path / "lab.toml"
    lab_config.write_text('[[target]]\nname = "demo"\nconsole = "unix:///run/lab.sock"\n')
    default = paths.config_dir() / "config.toml"
    default.parent.mkdir(parents=True, exist_ok=True)
    mine = '[[target]]\nname = "web-01"\nconsole = "telnet://10.0.0.5:7001"\n'
    default.write_text(mine)
    said = lab.adopt_as_default(lab_config)
    assert default.read_text() == mine
    assert "no demo target" in said and f"--config {lab_config}" in said

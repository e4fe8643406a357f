"""Snapshot tests of the main screens and each theme (pytest-textual-snapshot; blink frozen).

The consoles here point at sockets that do not exist, so the pictures do not depend on a peer;
the console content is fed to the terminal widget directly.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console_tui.core import config as config_mod
from console_tui.ui.app import ConsoleApp
from console_tui.ui.screens.main import MainScreen

SOCKETS = Path("/nonexistent/console-tui-snapshot")
"""Where the consoles' sockets would be: never made, so every console stays unreachable."""
SIZE = (130, 36)

CONFIG = f"""
[[target]]
name = "web-01"
group = "prod"
console = "unix://{SOCKETS}/web-01.sock"
control = "qmp://{SOCKETS}/web-01.qmp"

[[target]]
name = "db-01"
group = "prod"
console = "telnet://127.0.0.1:1"
keys = "vt220"

[[target]]
name = "win-01"
group = "windows"
os = "windows"
console = "unix://{SOCKETS}/win-01.sock"

[[target]]
name = "bmc-07"
group = "lab"
console = "serial:///dev/ttyS7?baud=115200"
"""

LINUX_SCREEN = (
    b"\x1b[1mconsole-tui demo guest ready\x1b[0m\r\n"
    b"demo:~# uname -a\r\n"
    b"Linux demo 6.1.0-cloud-amd64 #1 SMP x86_64 GNU/Linux\r\n"
    b"demo:~# ls --color /\r\n"
    b"\x1b[1;34mbin\x1b[0m  \x1b[1;34mdev\x1b[0m  \x1b[1;34metc\x1b[0m  "
    b"\x1b[1;36minit\x1b[0m  \x1b[1;34mproc\x1b[0m  \x1b[1;34mroot\x1b[0m  \x1b[1;34msys\x1b[0m\r\n"
    b"demo:~# "
)
SAC_SCREEN = (
    b"Computer is booting, SAC started and initialized.\r\n\r\n"
    b'Use the "ch -?" command for information about using channels.\r\n'
    b'Use the "?" command for general help.\r\n\r\nSAC>'
)


@pytest.fixture(autouse=True)
def fixed_paths(private_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Transcript paths show in the status line: keep them the same on every run. Under the
    test's own home folder they show as ~/.local/state/..., wherever that folder is."""
    monkeypatch.setenv("HOME", str(private_dirs))
    monkeypatch.setenv("XDG_STATE_HOME", str(private_dirs / ".local" / "state"))


def make_app(theme: str | None = None) -> ConsoleApp:
    config = config_mod.parse(CONFIG)
    return ConsoleApp(config, theme=theme, blink=False, probe=False, who="operator")


async def open_with(pilot: Pilot, name: str, output: bytes) -> None:
    """Open a console whose line is down and draw `output` on it, as if the guest had sent it."""
    app = pilot.app
    screen = app.screen
    assert isinstance(screen, MainScreen)
    pane = await screen.open_target(name)
    deadline = asyncio.get_running_loop().time() + 5

    def settled() -> bool:
        # The first events of an attach have been shown: the line is down, and why.
        return pane.facts.state == "unreachable" and pane.facts.line_down

    while not settled() and asyncio.get_running_loop().time() < deadline:
        await pilot.pause(0.02)
    await pilot.pause(0.3)  # the announcements those events posted are shown before ours
    pane.terminal.screen_model.feed(output)
    pane.terminal.sync_now()
    screen.announce(f"{name}: unreachable")
    await pilot.pause()


def test_inventory(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE)


def test_inventory_filtered(snap_compare) -> None:
    assert snap_compare(make_app(), press=["slash", "p", "r", "o", "d"], terminal_size=SIZE)


def test_console_tab(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_with(pilot, "web-01", LINUX_SCREEN)

    assert snap_compare(make_app(), run_before=run_before, terminal_size=SIZE)


def test_sysrq_dialog(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_with(pilot, "web-01", LINUX_SCREEN)
        pilot.app.screen.action_sysrq()
        await pilot.pause()

    assert snap_compare(make_app(), run_before=run_before, terminal_size=SIZE)


def test_function_keys_dialog(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_with(pilot, "db-01", LINUX_SCREEN)
        pilot.app.screen.action_function_keys()
        await pilot.pause()

    assert snap_compare(make_app(), run_before=run_before, terminal_size=SIZE)


def test_sac_dialog(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_with(pilot, "win-01", SAC_SCREEN)
        pilot.app.screen.action_sac()
        await pilot.pause()

    assert snap_compare(make_app(), run_before=run_before, terminal_size=SIZE)


def test_help_screen(snap_compare) -> None:
    assert snap_compare(make_app(), press=["f1"], terminal_size=SIZE)


@pytest.mark.parametrize("theme", ["console-dark", "console-light", "high-contrast"])
def test_theme(snap_compare, theme: str) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_with(pilot, "web-01", LINUX_SCREEN)

    assert snap_compare(make_app(theme), run_before=run_before, terminal_size=SIZE)

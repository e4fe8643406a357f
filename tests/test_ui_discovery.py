"""The app's inventory with discovered targets: under their source, and found again on a rescan
from the command palette. The VM sockets are real unix listeners made here."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Static

from console_tui.core import config, discovery
from console_tui.ui.app import ConsoleApp
from console_tui.ui.widgets.inventory import SOURCE_LABELS, Inventory


@pytest.fixture
def folder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short socket folder (a unix socket path must fit in 107 bytes); discovery on."""
    monkeypatch.delenv(discovery.ENVIRONMENT, raising=False)
    path = Path(tempfile.mkdtemp(prefix="ctui-ui-", dir="/tmp"))
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def listen(*paths: Path) -> list[socket.socket]:
    made = []
    for path in paths:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.listen()
        made.append(sock)
    return made


def placed(inventory: Inventory) -> dict[str, tuple[str, ...]]:
    """Each target leaf of the tree with the labels above it (source, group)."""
    found = {}
    stack = [(node, ()) for node in inventory.query_one("#targets").root.children]
    while stack:
        node, above = stack.pop()
        if node.data is not None:
            found[node.data] = above
        stack += [(child, (*above, str(node.label))) for child in node.children]
    return found


async def settle(pilot: Pilot) -> None:
    """Let the workers (the rescan) finish and their messages be handled."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_discovered_targets_sit_under_their_source_and_a_rescan_finds_more(
    folder: Path,
) -> None:
    sockets = listen(folder / "vm1.sock", folder / "vm1.qmp")
    text = (
        '[[target]]\nname = "web"\nconsole = "tcp://127.0.0.1:9"\n'
        f'[discovery]\nqemu = false\nserial = false\nfolders = ["{folder}"]\n'
    )
    app = ConsoleApp(config.parse(text), probe=False, blink=False)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            inventory = app.screen.query_one(Inventory)
            assert placed(inventory) == {
                "web": (SOURCE_LABELS["config"], "default"),
                "vm1": (SOURCE_LABELS["folder"], "discovered"),
            }

            sockets += listen(folder / "vm2.sock", folder / "vm2.qmp")
            await pilot.press("ctrl+right_square_bracket")
            assert isinstance(app.screen, CommandPalette)
            await pilot.press(*"Rescan for VMs")
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            assert placed(inventory)["vm2"] == (SOURCE_LABELS["folder"], "discovered")
            announced = str(app.screen.query_one("#announce", Static).render())
            assert announced == "rescan: 1 new, 0 gone; 2 found without config"

            for sock in sockets[2:]:
                sock.close()
            (folder / "vm2.sock").unlink()
            (folder / "vm2.qmp").unlink()
            inventory.rescan(announce=True)
            await settle(pilot)
            assert set(placed(inventory)) == {"web", "vm1"}
            assert "1 gone" in str(app.screen.query_one("#announce", Static).render())
    finally:
        for sock in sockets:
            sock.close()

"""The app through a running `console-tui serve --no-ssh` (a real subprocess), as a local operator
or an SSH channel's app uses it: the list and the status line follow the Hub's events.

The console is a real Unix-socket peer in this process that stops and starts again, as a VM that
goes away and comes back.
"""

from __future__ import annotations

from pathlib import Path

from conftest import APP_SIZE, capture_daemon, main_screen, open_console, target, until
from peers import ConsolePeer, echo
from textual.pilot import Pilot

from console_tui.core import config
from console_tui.core.hubwire import RemoteHub
from console_tui.ui.app import ConsoleApp
from console_tui.ui.widgets.console_pane import ConsolePane
from console_tui.ui.widgets.inventory import Inventory


async def _settle(pilot: Pilot, pane: ConsolePane, state: str) -> None:
    """Wait until the status line shows `state`, then let the messages it posted be handled."""
    await until(pilot, lambda: pane.facts.state == state, f"status line: {state}", timeout=20)
    await pilot.pause()
    await pilot.pause()


async def test_list_and_status_line_follow_the_servers_events(
    sock_dir: Path, tmp_path: Path
) -> None:
    sock = sock_dir / "vm.sock"
    path = tmp_path / "config.toml"
    path.write_text(target("vm", sock))
    peer = ConsolePeer(sock, b"login: ", reply=echo)
    await peer.start()
    try:
        with capture_daemon(path) as said:
            hub_path = said.rsplit("join through ", 1)[1].split()[0]
            hub = RemoteHub.dial(hub_path, "")
            app = ConsoleApp(config.load(path), hub=hub, blink=False, probe=False)
            async with app.run_test(size=APP_SIZE) as pilot:
                pane = await open_console(pilot, app, "vm")
                inventory = main_screen(app).query_one(Inventory)
                await pilot.pause()
                assert inventory.states["vm"] == "connected"
                await peer.stop()
                await until(pilot, lambda: pane.facts.state != "connected", "the drop")
                await _settle(pilot, pane, pane.facts.state)  # reconnecting, or already past it
                assert inventory.states["vm"] == pane.facts.state, "the list lags behind"
                await _settle(pilot, pane, "unreachable")
                assert inventory.states["vm"] == "unreachable", "the list lags behind"
                assert "does not exist" in pane.facts.detail
                await peer.start()
                await _settle(pilot, pane, "connected")
                assert inventory.states["vm"] == "connected", "the list lags behind"
                assert pane.facts.detail == ""
    finally:
        await peer.stop()

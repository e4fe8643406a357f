"""A target whose line is down: the app shows why and what to do where the console would be and in
the status line, and nobody holds the write lock on a dead line.

The consoles are real Unix-socket peers in this process that are absent, stop and start again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import APP_SIZE, main_screen, make_config, next_event, state_until, target, until
from peers import ConsolePeer, echo
from textual.widgets import Static

from console_tui.core import config
from console_tui.core.errors import UnreachableError
from console_tui.core.hub import Hub
from console_tui.ui.app import ConsoleApp


async def test_the_app_shows_why_a_line_is_down_and_no_write_lock(sock_dir: Path) -> None:
    sock = sock_dir / "vm.sock"
    app = ConsoleApp(make_config(sock_dir, target("vm", sock)), blink=False, probe=False)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = main_screen(app)
        pane = await screen.open_target("vm")
        await until(pilot, lambda: pane.facts.state == "unreachable", "unreachable")
        await pilot.pause()
        banner = pane.query_one("#line-down", Static)
        assert banner.display and banner.region.height > 2
        words = str(banner.render())
        assert "vm is unreachable" in words
        assert f"{sock}: does not exist" in words and "is the VM running" in words
        assert "Reconnect" in words, "the banner says what to do now"
        status = str(pane.query_one("#status").render())
        assert "state: unreachable (" in status and "does not exist" in status
        assert "write lock: none while the line is down" in status
        assert "write lock: you" not in status
        assert app.hub.status("vm").writer == ""
        assert "does not exist" in str(screen.query_one("#announce").render())
        # The line comes up: the banner goes, and the operator who opened it writes.
        async with ConsolePeer(sock, b"login: ", reply=echo) as peer:
            await until(pilot, lambda: pane.facts.state == "connected", "connected", timeout=15)
            await until(pilot, lambda: pane.facts.writer == pane.facts.you, "the write lock")
            await pilot.pause()
            assert not banner.display
            assert "write lock: you" in str(pane.query_one("#status").render())
            await pilot.press("a")
            await peer.wait_received(b"a")


async def test_the_write_lock_lives_only_on_a_live_line(tmp_path: Path) -> None:
    """Attached while down: in line for the lock. Up: the first in line writes. Down: nobody
    writes. Up again: the same writer, not whoever attached meanwhile."""
    sock = tmp_path / "vm.sock"
    path = tmp_path / "config.toml"
    path.write_text(target("vm", sock))
    hub = Hub(config.load(path))
    try:
        alice = await hub.attach("vm", who="alice")
        await state_until(alice, "unreachable")
        assert hub.status("vm").writer == ""
        with pytest.raises(UnreachableError, match="does not exist"):
            await hub.write(alice, b"x")
        assert hub.status("vm").writer == "", "a refused write takes no lock"
        peer = ConsolePeer(sock, b"$ ", reply=echo)
        await peer.start()
        await state_until(alice, "connected", timeout=10)
        assert hub.status("vm").writer == "alice"
        await peer.wait_connections(1)
        await peer.stop()
        await state_until(alice, "unreachable", timeout=10)
        assert hub.status("vm").writer == ""
        bob = await hub.attach("vm", who="bob")
        await next_event(bob, "state")
        assert not await hub.request_lock(bob), "no lock on a dead line"
        await peer.start()
        await state_until(alice, "connected", timeout=10)
        assert hub.status("vm").writer == "alice"
        await hub.write(alice, b"ok\r")
        await peer.wait_received(b"ok\r")
        await peer.stop()
    finally:
        await hub.close()

"""When another operator asks for the write lock, each client names its own way to hand it over:
the app its palette command (typing `~w` there would go to the guest's shell), `attach` its `~w`.

The console is a real Unix-socket peer in this process.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import APP_SIZE, main_screen, make_config, open_console, target, until
from peers import ConsolePeer, echo

from console_tui.core import config
from console_tui.core.hub import Hub
from console_tui.core.passthrough import Passthrough
from console_tui.ui.app import ConsoleApp


async def test_the_app_names_its_own_way_to_hand_over(sock_dir: Path) -> None:
    sock = sock_dir / "vm.sock"
    async with ConsolePeer(sock, b"$ ", reply=echo):
        app = ConsoleApp(make_config(sock_dir, target("vm", sock)), blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "vm")
            await until(pilot, lambda: pane.facts.writer == pane.facts.you, "the write lock")
            screen = main_screen(app)
            bob = await app.hub.attach("vm", who="bob", role="operator")
            assert not await app.hub.request_lock(bob)
            announce = screen.query_one("#announce")
            await until(pilot, lambda: "asks for the write lock" in str(announce.render()), "ask")
            words = str(announce.render())
            assert "bob asks for the write lock" in words
            assert "~w" not in words
            assert "Hand over write lock" in words
            screen.hand_over_lock()  # the palette command the words name
            await until(pilot, lambda: app.hub.status("vm").writer == "bob", "handed over")
            await app.hub.detach(bob)


async def test_attach_names_its_escape(tmp_path: Path) -> None:
    sock = tmp_path / "vm.sock"
    path = tmp_path / "config.toml"
    path.write_text(target("vm", sock))
    async with ConsolePeer(sock, b"$ ", reply=echo):
        hub = Hub(config.load(path))
        try:
            alice = await hub.attach("vm", who="alice", wait=5)
            shown = bytearray()
            passthrough = Passthrough(hub, alice, shown.extend)
            pump = asyncio.get_running_loop().create_task(passthrough.pump_output())
            bob = await hub.attach("vm", who="bob", role="operator")
            assert not await hub.request_lock(bob)
            async with asyncio.timeout(5):
                while b"asks for the write lock" not in shown:
                    await asyncio.sleep(0.02)
            assert b"bob asks for the write lock (hand it over: ~w)" in shown
            pump.cancel()
        finally:
            await hub.close()

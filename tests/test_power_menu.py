"""The app's power and boot-override entries treat every control alike: what a target's control
cannot do is listed disabled with the reason, and picking it says why instead of acting.

The console is a real Unix-socket peer; the QMP control is named but never dialled (nothing here
needs it to answer).
"""

from __future__ import annotations

from pathlib import Path

from conftest import APP_SIZE, main_screen, make_config, open_console, target, until
from peers import ConsolePeer, echo

from console_tui.ui.app import ConsoleApp
from console_tui.ui.commands import console_commands


async def test_power_entries_are_disabled_with_the_reason(sock_dir: Path) -> None:
    sock, bare = sock_dir / "vm.sock", sock_dir / "bare.sock"
    async with (
        ConsolePeer(sock, b"$ ", reply=echo) as peer,
        ConsolePeer(bare, b"$ ", reply=echo),
    ):
        config = make_config(
            sock_dir,
            target("vm", sock, control=f"qmp://{sock_dir}/vm.qmp"),
            target("bare", bare),
        )
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            await open_console(pilot, app, "vm")
            screen = main_screen(app)
            entries = {c.name: c for c in console_commands(screen)}
            assert entries["Power on"].unavailable == (
                "the qmp control cannot power on (a QEMU that quit cannot be started over QMP)"
            )
            for action in ("soft-off", "off", "cycle"):
                assert entries[f"Power {action}"].unavailable == "", action
            assert (
                "no one-shot boot override"
                in entries["Next boot: firmware setup (BIOS/UEFI)"].unavailable
            )

            announce = screen.query_one("#announce")
            screen.power("on")
            await until(pilot, lambda: "cannot power on" in str(announce.render()), "the reason")
            screen.boot_override("setup")
            await until(pilot, lambda: "no one-shot boot override" in str(announce.render()), "why")

            await open_console(pilot, app, "bare")
            entries = {c.name: c for c in console_commands(screen)}
            assert "no control backing" in entries["Power off"].unavailable
            assert "no control backing" in entries["Next boot: PXE"].unavailable
        assert bytes(peer.received) == b""

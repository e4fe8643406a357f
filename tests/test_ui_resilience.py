"""The app when things go wrong: a target that drops and returns, a huge paste, a second app.

Every peer is a real local Unix-socket server. The widget's own fuzz test (random bytes and cut-off
escapes) lives in test_ui_terminal.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import APP_SIZE, main_screen, make_config, open_console, target, until
from peers import ConsolePeer, OneClientPeer, echo
from textual import events

from console_tui.ui.app import ConsoleApp
from console_tui.ui.dialogs.paste import PasteDialog


async def test_a_dropped_target_says_so_and_comes_back_by_itself(sock_dir: Path) -> None:
    """The peer goes away: the status line and the inventory say so in words; it returns: the
    session reconnects with no key pressed, and new output shows in the widget."""
    path = sock_dir / "d.sock"
    config = make_config(sock_dir, target("web-01", path))
    async with ConsolePeer(path, lambda n: b"web-01 console #%d\r\n" % n, reply=echo) as console:
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "web-01")
            screen = main_screen(app)
            inventory = screen.query_one("Inventory")
            status = pane.query_one("#status")
            await until(pilot, lambda: "web-01 console #1" in pane.terminal.screen_text(), "hello")
            await until(pilot, lambda: inventory.states["web-01"] == "connected", "inventory")

            await console.stop()
            down = ("reconnecting", "unreachable")
            await until(pilot, lambda: pane.facts.state in down, "the drop noticed")
            await until(pilot, lambda: inventory.states["web-01"] in down, "inventory says so")
            assert f"state: {pane.facts.state}" in str(status.render())
            await until(pilot, lambda: pane.facts.state == "unreachable", "unreachable")
            await until(pilot, lambda: "state: unreachable" in str(status.render()), "in words")
            await until(
                pilot,
                lambda: (
                    "unreachable" in str(inventory.target_tree.root.children[0].children[0].label)
                ),
                "the inventory to say unreachable",
            )

            await console.start()
            await until(pilot, lambda: pane.facts.state == "connected", "back by itself")
            await until(pilot, lambda: inventory.states["web-01"] == "connected", "inventory back")
            assert "state: connected" in str(status.render())
            await until(pilot, lambda: "web-01 console #2" in pane.terminal.screen_text(), "news")
            await pilot.press(*"uptime", "enter")
            await until(pilot, lambda: "uptime" in pane.terminal.screen_text(), "typing works")
            assert pane.viewer is not None


PASTE_BAUD = 921600


def numbered_lines(size: int) -> str:
    """About `size` characters of numbered lines, so order and loss show at a glance."""
    lines = []
    total = n = 0
    while total < size:
        line = f"{n:07d} the quick brown fox jumps over the lazy dog {n % 97:02d}\n"
        lines.append(line)
        total += len(line)
        n += 1
    return "".join(lines)[:size]


async def test_a_megabyte_paste_asks_then_goes_at_line_rate(sock_dir: Path) -> None:
    """A 1 MB paste through the terminal's paste event: the paste dialog asks, then the peer
    receives every byte in order, no faster than the target's baud rate allows (10 bits a byte)."""
    path = sock_dir / "p.sock"
    config = make_config(sock_dir, target("box", path) + f"baud = {PASTE_BAUD}\n")
    arrivals: list[tuple[float, int]] = []  # when each read came, and the total so far

    def record(data: bytes) -> bytes:
        total = arrivals[-1][1] if arrivals else 0
        arrivals.append((time.monotonic(), total + len(data)))
        return b""

    async with ConsolePeer(path, b"$ ", reply=record) as console:
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "box")
            text = numbered_lines(1_000_000)
            pane.terminal.post_message(events.Paste(text))
            await until(pilot, lambda: isinstance(app.screen, PasteDialog), "the paste question")
            assert console.received == b""
            assert "1,000,000 characters" in app.screen.question
            await pilot.press("y")
            expected = text.replace("\n", "\r").encode()
            await until(
                pilot, lambda: len(console.received) >= len(expected), "the whole paste", 60
            )
            assert bytes(console.received) == expected  # intact, in order, not bracketed
            bytes_per_second = PASTE_BAUD / 10
            burst = PASTE_BAUD // 10 // 20  # what the pacer may write before its first pause
            first_time, first_total = arrivals[0]
            for when, total in arrivals:
                allowed = first_total + burst + bytes_per_second * (when - first_time)
                assert total <= allowed, f"{total} bytes after {when - first_time:.3f} s"
            took = arrivals[-1][0] - first_time
            assert took >= (len(expected) - first_total - burst) / bytes_per_second


async def test_a_second_app_waits_for_a_one_client_console(sock_dir: Path) -> None:
    """Two app instances, each with its own Hub as two `console-tui` processes have, on one
    QEMU-style one-client socket: the second says it waits and for whom, sends nothing while it
    waits, and the first keeps working; when the first lets go, the second gets a clean line."""
    path = sock_dir / "q.sock"
    config = make_config(sock_dir, target("vm", path))
    async with OneClientPeer(
        path, lambda n: b"guest tty, client %d\r\n$ " % n, reply=echo
    ) as console:
        first = ConsoleApp(config, blink=False, probe=False, who="alice")
        async with first.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, first, "vm")
            await until(pilot, lambda: "client 1" in pane.terminal.screen_text(), "greeting")
            second = ConsoleApp(config, blink=False, probe=False, who="bob")
            async with second.run_test(size=APP_SIZE) as pilot2:
                screen2 = main_screen(second)
                pane2 = await screen2.open_target("vm")
                await until(pilot2, lambda: pane2.facts.state == "waiting", "second waits")
                status2 = str(pane2.query_one("#status").render())
                assert "state: waiting" in status2
                inventory2 = screen2.query_one("Inventory")
                await until(pilot2, lambda: inventory2.states["vm"] == "waiting", "inventory")
                announce = screen2.query_one("#announce")
                await until(pilot2, lambda: "in use by" in str(announce.render()), "who holds it")
                assert f"pid {os.getpid()}" in str(announce.render())

                await pilot2.press(*"reboot", "enter")
                await until(
                    pilot2, lambda: "console is waiting" in str(announce.render()), "refused"
                )
                await pilot.press(*"alice", "enter")
                await until(pilot, lambda: "alice" in pane.terminal.screen_text(), "first works")
                assert [bytes(c) for c in console.received] == [b"alice\r"]

                await first.hub.close()  # what the first app does when it quits
                await until(pilot2, lambda: pane2.facts.state == "connected", "second's turn")
                await until(pilot2, lambda: "client 2" in pane2.terminal.screen_text(), "the line")
                await pilot2.press(*"bob", "enter")
                await until(pilot2, lambda: "bob" in pane2.terminal.screen_text(), "second types")
                assert [bytes(c) for c in console.received] == [b"alice\r", b"bob\r"]

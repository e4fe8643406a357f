"""The `~?` numbered menu of `attach` pages to fit the operator's terminal, so its header never
scrolls off a 24-line screen: checked in a real terminal (tmux) and in process.

The console is a real peer: socat and a pty that echoes (EchoConsole).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import Tmux, target
from peers import ConsolePeer, EchoConsole

from console_tui.core import config
from console_tui.core.hub import Hub
from console_tui.core.passthrough import Passthrough


def test_the_menu_pages_in_a_24_line_terminal(
    tmp_path: Path, console: EchoConsole, tmux: Callable[[int, int], Tmux]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(target("vm", console.path))
    terminal = tmux(80, 24)
    terminal.start(sys.executable, "-m", "console_tui", "--config", str(path), "attach", "vm")
    terminal.wait_for("console connected")
    terminal.send("", "Enter")
    terminal.send("~?")
    screen = terminal.wait_for("number>")
    assert "console-tui escapes" in screen, "the header is still on the screen"
    assert "Actions 1-" in screen and "Space shows more" in screen
    seen = set(re.findall(r"^\s*(\d+)  ", screen, re.M))
    while "Space shows more" in screen.rsplit("Actions ", 1)[1]:
        terminal.send(" ")
        screen = terminal.wait_for(f"Actions {len(seen) + 1}-")
        assert "number>" in screen.rsplit(f"Actions {len(seen) + 1}-", 1)[1]
        seen |= set(re.findall(r"^\s*(\d+)  ", screen, re.M))
    detach = re.search(r"^\s*(\d+)  Detach", screen, re.M)
    assert detach is not None
    terminal.send(detach.group(1), "Enter")
    terminal.wait_for("detached")


async def test_every_page_fits_and_every_action_can_be_chosen(tmp_path: Path) -> None:
    sock = tmp_path / "vm.sock"
    path = tmp_path / "config.toml"
    path.write_text(target("vm", sock))
    async with ConsolePeer(sock, b"$ "):
        hub = Hub(config.load(path))
        try:
            viewer = await hub.attach("vm", wait=5)
            shown = bytearray()
            passthrough = Passthrough(hub, viewer, shown.extend, size=lambda: (80, 24))
            count = len(passthrough.menu())
            await passthrough.feed(b"\r~?")
            pages = []
            while True:
                pages.append(shown.decode())
                shown.clear()
                if "Space shows more" not in pages[-1]:
                    break
                await passthrough.feed(b" ")
            assert len(pages) > 1
            assert "console-tui escapes" in pages[0]
            for page in pages:
                lines = page.replace("\r", "").split("\n")
                rows = sum(max(1, -(-len(line) // 80)) for line in lines)
                assert rows <= 24, "a page scrolls its heading off"
            listed = [int(n) for page in pages for n in re.findall(r"^\s*(\d+)  ", page, re.M)]
            assert listed == list(range(1, count + 1))
            await passthrough.feed(b"\r~?" + str(count - 1).encode() + b"\r")  # on a later page
            assert "write lock" in shown.decode()
        finally:
            await hub.close()

"""The function-key dialog's boot menu helpers, read back as bytes at a real socket peer."""

from __future__ import annotations

from pathlib import Path

from conftest import APP_SIZE, main_screen, make_config, open_console, target, until
from peers import ConsolePeer
from textual.pilot import Pilot
from textual.widgets import OptionList

from console_tui.ui.app import ConsoleApp
from console_tui.ui.dialogs.function_keys import FunctionKeysDialog


class GrubEditor:
    """A console that draws an entry editor like GRUB's on `e` (`setparams`, a blank line, the
    kernel line) and redraws it after every key, typed text going onto the kernel line."""

    def __init__(self) -> None:
        self.kernel_line = b"  linux /vmlinuz ro"
        self.editing = False

    def __call__(self, data: bytes) -> bytes:
        if not self.editing:
            self.editing = data == b"e"
            return data if not self.editing else self.draw()
        if data == b"\x08":
            self.kernel_line = self.kernel_line[:-1]
        elif len(data) == 1 and 0x20 <= data[0] < 0x7F:
            self.kernel_line += data
        return self.draw()

    def draw(self) -> bytes:
        rows = (b"setparams 'box'", b"", self.kernel_line, b"  initrd /i")
        return b"\x1b[2J\x1b[H" + b"".join(b" |%-76s|\r\n" % row for row in rows)


async def _choose(pilot: Pilot, app: ConsoleApp, option_id: str) -> None:
    main_screen(app).action_function_keys()
    await until(pilot, lambda: isinstance(app.screen, FunctionKeysDialog), "the key dialog")
    await until(pilot, lambda: bool(app.screen.query("#keys")), "its keys")
    options = app.screen.query_one("#keys", OptionList)
    options.highlighted = options.get_option_index(option_id)
    await pilot.press("enter")


async def test_boot_menu_helpers_send_paced_grub_keys(sock_dir: Path) -> None:
    """The peer draws an editor like GRUB's, so the kernel line is found and read back on the
    screen, and keys go at its redraws' pace (no GRUB runs in this test: test_bootmenu.py boots
    the real one)."""
    config = make_config(sock_dir, target("box", sock_dir / "b.sock"))
    async with ConsolePeer(sock_dir / "b.sock", b"GNU GRUB\r\n", reply=GrubEditor()) as console:
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            await open_console(pilot, app, "box")
            await _choose(pilot, app, "bootmenu:entry:2")
            await until(pilot, lambda: console.received.endswith(b"\r"), "entry 2 keys")
            assert bytes(console.received) == b"\x1b[H\x1b[B\r"

            before = len(console.received)
            await _choose(pilot, app, "bootmenu:append:init=/bin/sh")
            want = b"e\x1b[B\x1b[B\x05 init=/bin/sh\x18"
            await until(pilot, lambda: len(console.received) >= before + len(want), "the edit")
            assert bytes(console.received[before:]) == want


async def test_reset_into_the_boot_menu_says_why_not_without_a_control(sock_dir: Path) -> None:
    config = make_config(sock_dir, target("box", sock_dir / "c.sock"))
    async with ConsolePeer(sock_dir / "c.sock", b"login: ") as console:
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            await open_console(pilot, app, "box")
            await _choose(pilot, app, "bootmenu:hold:grub")
            announce = main_screen(app).query_one("#announce")
            await until(pilot, lambda: "unavailable" in str(announce.render()), "the reason")
            assert "no control backing" in str(announce.render())
            assert bytes(console.received) == b""

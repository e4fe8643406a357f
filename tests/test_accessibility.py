"""Keyboard-only and screen-reader operation: every action from the keyboard, a quiet screen, the
real cursor where the operator is, a reading view that only appends, a keymap from the config."""

from __future__ import annotations

import dataclasses
import io
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from conftest import APP_SIZE, main_screen, make_config, open_console, target, until
from peers import ConsolePeer, echo, quiet_console
from rich.console import Console
from textual import events
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Static, Tabs, Tree

from console_tui.ui import commands as commands_mod
from console_tui.ui.app import ConsoleApp
from console_tui.ui.dialogs.sysrq import SysRqDialog
from console_tui.ui.screens.help import HelpScreen
from console_tui.ui.screens.main import MainScreen
from console_tui.ui.widgets.inventory import Inventory
from console_tui.ui.widgets.terminal import TerminalView

IDLE_SECONDS = 5.0
IDLE_BOUND = 64
"""Bytes the app may write in screen-reader mode over the idle window (nothing changes: none)."""


def full_target(sock: Path) -> str:
    """A target on which every action is available: telnet framing carries BREAK, the control
    backing is configured (NMI and reset ask first; the walkthrough answers no), SAC is on."""
    return target(
        "box",
        Path(f"{sock}?telnet=1"),
        os="windows",
        control=f"qmp://{sock.parent}/box.qmp",
    )


def send_key(app: ConsoleApp, key: str, character: str | None = None) -> None:
    """One key event as a terminal delivers it: through the driver, without waiting for the app
    to go idle afterwards (Pilot.press waits after each key, which makes 100 commands slow)."""
    assert app._driver is not None
    event = events.Key(key, character)
    event.set_sender(app)
    app._driver.send_message(event)


async def run_from_palette(pilot: Pilot, app: ConsoleApp, name: str) -> None:
    """Ctrl+], arrow down the palette's list to the command, Enter: keys only."""
    send_key(app, "ctrl+right_square_bracket")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
    command_list = app.screen.query_one("CommandList")

    def index() -> int | None:
        for number in range(command_list.option_count):
            option = command_list.get_option_at_index(number)
            if str(option.prompt).split("\n")[0] == name:
                return number
        return None

    await until(pilot, lambda: index() is not None, f"{name!r} in the palette")
    wanted = index()
    assert wanted is not None
    current = command_list.highlighted
    for _ in range(wanted - (-1 if current is None else current)):
        send_key(app, "down")
    await until(pilot, lambda: command_list.highlighted == wanted, f"{name!r} highlighted")
    send_key(app, "enter")
    await until(pilot, lambda: not isinstance(app.screen, CommandPalette), "the palette closed")


async def back_to_the_console(pilot: Pilot, app: ConsoleApp) -> None:
    """Close whatever the command opened (Escape), and open the target again if its tab closed."""
    screen = main_screen(app)
    for _ in range(3):
        if app.screen is screen:
            break
        send_key(app, "escape")
        await until(pilot, lambda: app.screen is screen, "the dialog closed", timeout=1)
    if screen.active_pane is None:
        await pilot.press("ctrl+l", "enter")
        await until(pilot, lambda: screen.active_pane is not None, "the tab again")
        pane = screen.active_pane
        await until(pilot, lambda: pane.viewer is not None, "attached again")


def help_text(app: ConsoleApp) -> str:
    """What the help screen says, as plain text."""
    console = Console(width=120, record=True, file=io.StringIO())
    for static in app.screen.query(Static):
        console.print(static.content)
    return console.export_text()


async def test_every_action_is_reachable_from_the_keyboard(
    sock_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each palette command for a target, run by typing its name: keys only, no mouse."""
    ran: list[str] = []
    listed = commands_mod.console_commands

    def recording(screen: object) -> Iterator[commands_mod.Command]:
        for command in listed(screen):

            def run(command: commands_mod.Command = command) -> object:
                ran.append(command.name)
                return command.run()

            yield dataclasses.replace(command, run=run)

    monkeypatch.setattr(commands_mod, "console_commands", recording)
    monkeypatch.setattr(CommandPalette, "_RESULT_BATCH_TIME", 0.01)  # list the commands sooner
    config = make_config(sock_dir, full_target(sock_dir / "box.sock"))
    async with ConsolePeer(sock_dir / "box.sock", b"SAC>"):
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            screen = main_screen(app)
            await pilot.press("enter")  # the target list has focus: open the first target
            await until(pilot, lambda: screen.active_pane is not None, "a tab")
            pane = screen.active_pane
            await until(pilot, lambda: pane.viewer is not None, "attached")
            # A baud rate needs an rfc2217:// line (tests/test_rfc2217.py runs those commands);
            # power on and a one-shot boot device need a control that has them, which QMP has
            # not (tests/test_power_menu.py): each of those says why.
            elsewhere = ("Baud rate", "Power on", "Next boot")
            others = [c for c in listed(screen) if c.name.startswith(elsewhere)]
            assert others and all(command.unavailable for command in others)
            commands = [c for c in listed(screen) if not c.name.startswith(elsewhere)]
            unavailable = [(c.name, c.unavailable) for c in commands if c.unavailable]
            assert not unavailable
            names = [command.name for command in commands]
            assert len(set(names)) == len(names), "command names are unique"
            for name in names:
                await run_from_palette(pilot, app, name)
                await until(pilot, lambda: name in ran, f"{name!r} run")  # noqa: B023
                if name == "Close tab":  # the tab goes after the command returns
                    await until(pilot, lambda: screen.active_pane is None, "the tab closed")
                await back_to_the_console(pilot, app)
            reachable = [name for name in names if name in ran]
            with capsys.disabled():
                print(f"\n{len(reachable)} of {len(names)} actions reachable from the keyboard")
            assert reachable == names


async def test_every_main_binding_works_outside_the_console(sock_dir: Path) -> None:
    """Each key of the main screen, pressed after Ctrl+F6 left the console, runs its action."""
    config = make_config(sock_dir, full_target(sock_dir / "box.sock"))
    async with ConsolePeer(sock_dir / "box.sock", b"$ "):
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            await open_console(pilot, app, "box")
            screen = main_screen(app)
            pressed: list[str] = []
            for binding in MainScreen.BINDINGS:
                assert binding.id and binding.description  # type: ignore[union-attr]

                def spy(binding_id: str = binding.id) -> None:  # type: ignore[union-attr]
                    pressed.append(binding_id)

                setattr(screen, f"action_{binding.action}", spy)  # type: ignore[union-attr]
            for binding in MainScreen.BINDINGS:
                await pilot.press("ctrl+f6")
                assert not isinstance(app.focused, TerminalView)
                await pilot.press(binding.key.split(",")[0])  # type: ignore[union-attr]
                await pilot.pause()
                if isinstance(app.focused, Tabs | Tree) or app.focused is None:
                    screen.active_pane.terminal.focus()  # type: ignore[union-attr]
                    await pilot.pause()
            assert pressed == [b.id for b in MainScreen.BINDINGS]  # type: ignore[union-attr]


async def test_tab_order_and_help_lists_every_binding(sock_dir: Path) -> None:
    """Tab walks the controls in reading order; F1 (outside the console) lists every binding."""
    config = make_config(sock_dir, full_target(sock_dir / "box.sock"))
    async with ConsolePeer(sock_dir / "box.sock", b"$ "):
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "box")
            await pilot.press("f12")  # goes to the console, not to the app
            assert not pane.reading_view.display
            await pilot.press("ctrl+f6", "f12")
            assert pane.reading_view.display
            assert app.focused is pane.reading_view  # F12 shows it and goes there
            order = []
            keys = ["ctrl+f6", "ctrl+f6", *["shift+tab"] * 3, *["tab"] * 5]
            for key in keys:
                await pilot.press(key)
                order.append(f"{type(app.focused).__name__}#{app.focused.id}")
            assert order == [
                "TerminalView#terminal",  # Ctrl+F6 goes into the console...
                "ContentTabs#None",  # ...and out of it again, to the tab bar
                "Tree#targets",
                "Input#filter",
                "ReadingView#reading",  # Shift+Tab wraps round to the last control
                "Input#filter",
                "Tree#targets",
                "ContentTabs#None",
                "TerminalView#terminal",
                "TerminalView#terminal",  # in the console, Tab goes to the machine
            ], order
            await pilot.press("ctrl+f6", "f1")
            assert isinstance(app.screen, HelpScreen)
            shown = help_text(app)
            every = [*ConsoleApp.BINDINGS, *MainScreen.BINDINGS, *TerminalView.BINDINGS]
            for binding in every + Inventory.BINDINGS:
                assert binding.description in shown, binding.description  # type: ignore[union-attr]
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)


async def test_keymap_from_the_config(sock_dir: Path) -> None:
    """settings.keymap rebinds by binding id; the help screen shows the new key."""
    config = make_config(
        sock_dir,
        '[settings.keymap]\n"main.sysrq" = "f11"\n',
        full_target(sock_dir / "box.sock"),
    )
    assert config.settings.keymap == {"main.sysrq": "f11"}
    async with ConsolePeer(sock_dir / "box.sock", b"$ "):
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            await open_console(pilot, app, "box")
            await pilot.press("ctrl+f6", "f2")
            assert not isinstance(app.screen, SysRqDialog)
            await pilot.press("f11")
            await until(pilot, lambda: isinstance(app.screen, SysRqDialog), "SysRq on F11")
            await pilot.press("escape", "f1")
            assert isinstance(app.screen, HelpScreen)
            lines = help_text(app).lower().splitlines()
            assert any(line.split()[:2] == ["f11", "sysrq"] for line in lines), lines


async def test_reading_view_in_normal_mode_appends(sock_dir: Path) -> None:
    """F12 shows the console's text so far as lines; new output is appended, old lines stay."""
    config = make_config(sock_dir, target("box", sock_dir / "box.sock"))
    async with ConsolePeer(sock_dir / "box.sock", b"first line\r\nbox$ ", reply=echo) as console:
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "box")
            await until(pilot, lambda: "box$" in pane.terminal.screen_text(), "the prompt")
            await pilot.press("ctrl+f6", "f12")
            reading = pane.reading_view
            assert reading.display and app.focused is reading
            assert reading.lines == ["first line"]
            await pilot.press("ctrl+f6", *"echo hi", "enter")
            await until(pilot, lambda: b"echo hi\r" in console.received, "typed")
            await until(pilot, lambda: len(reading.lines) >= 2, "the echoed line")
            assert reading.lines[:2] == ["first line", "box$ echo hi"]
            await pilot.press("ctrl+f6", "f12")
            assert not reading.display


async def test_screen_reader_mode_announces_and_places_the_cursor(sock_dir: Path) -> None:
    """Screen-reader mode: no toasts, announcements on one line, the cursor on the focused item,
    the reading view seeded from the console on attach."""
    config = make_config(sock_dir, target("box", sock_dir / "box.sock"))
    async with ConsolePeer(sock_dir / "box.sock", b"hello\r\nbox$ ", reply=echo):
        app = ConsoleApp(config, screen_reader=True, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            assert app.animation_level == "none"
            screen = main_screen(app)
            tree = screen.query_one(Inventory).target_tree
            await until(pilot, lambda: tree.cursor_line > 0, "the first target highlighted")
            region = tree.content_region
            await until(
                pilot,
                lambda: app.cursor_position == (region.x, region.y + tree.cursor_line),
                "the cursor on the highlighted target",
            )
            pane = await open_console(pilot, app, "box")
            announce = screen.query_one("#announce", Static)
            await until(pilot, lambda: "box: connected" in str(announce.content), "announced")
            await until(pilot, lambda: pane.reading_view.lines == ["hello"], "reading view")
            cursor = pane.terminal.screen_model.cursor
            region = pane.terminal.scrollable_content_region
            assert cursor is not None
            await until(
                pilot,
                lambda: app.cursor_position == (region.x + cursor[0], region.y + cursor[1]),
                "the cursor on the console cursor",
            )
            screen.action_nmi()  # no control backing: refused with the reason
            await pilot.pause()
            assert "NMI unavailable" in str(announce.content)
            assert not app._notifications


async def test_reconnect_drops_the_line_and_keeps_the_viewer(sock_dir: Path) -> None:
    config = make_config(sock_dir, target("box", sock_dir / "box.sock"))
    async with ConsolePeer(sock_dir / "box.sock", b"$ ", reply=echo) as console:
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "box")
            viewer = pane.viewer
            assert console.connections == 1
            await main_screen(app).action_reconnect()
            await until(pilot, lambda: console.connections == 2, "a new connection")
            await until(pilot, lambda: pane.facts.state == "connected", "connected again")
            assert pane.viewer is viewer


def idle_bytes(child: pexpect.spawn, seconds: float) -> int:
    """Bytes the app writes to its terminal over `seconds`."""
    count = 0
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            count += len(child.read_nonblocking(65536, timeout=left))
        except pexpect.TIMEOUT:
            break
    return count


def settle(child: pexpect.spawn, quiet: float = 1.0, limit: float = 10.0) -> None:
    """Read until the app has written nothing for `quiet` seconds (bounded by `limit`)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            child.read_nonblocking(65536, timeout=quiet)
        except pexpect.TIMEOUT:
            return


@pytest.mark.parametrize("mode", ["screen-reader", "normal"])
def test_idle_bytes_written_to_the_terminal(
    sock_dir: Path, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real app in a pty with a live but quiet console: in screen-reader mode it writes
    (close to) nothing while idle, in the console and with the command palette open."""
    config = sock_dir / "config.toml"
    config.write_text(target("quiet", sock_dir / "quiet.sock"))
    args = ["-m", "console_tui.cli", "--config", str(config)]
    if mode == "screen-reader":
        args.append("--screen-reader")
    env = dict(os.environ, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    with quiet_console(sock_dir / "quiet.sock"):
        child = pexpect.spawn(sys.executable, args, env=env, dimensions=(40, 120), timeout=20)
        child.logfile_read = written = io.BytesIO()
        try:
            child.expect("quiet")
            settle(child)
            child.send("\r")  # open the target's console
            child.expect("quiet login:")
            settle(child)
            in_console = idle_bytes(child, IDLE_SECONDS)
            child.send("\x1d")  # Ctrl+]: the command palette, its text field focused
            settle(child)
            in_palette = idle_bytes(child, IDLE_SECONDS)
            shown = written.getvalue().rfind(b"\x1b[?25h") > written.getvalue().rfind(b"\x1b[?25l")
        finally:
            child.close(force=True)
    with capsys.disabled():
        print(
            f"\n{mode}: idle {in_console / IDLE_SECONDS:.0f} B/s in the console, "
            f"{in_palette / IDLE_SECONDS:.0f} B/s with the palette open"
        )
    if mode == "screen-reader":
        assert shown, "the real cursor is shown for the screen reader to follow"
        assert in_console < IDLE_BOUND
        assert in_palette < IDLE_BOUND
    else:
        assert in_palette > in_console  # the palette's blinking cursor: the measure sees it

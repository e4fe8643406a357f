"""Screen-reader flow: the real cursor lands on the console cursor, whichever way the operator
comes into the console; the app writes to the terminal only what changed."""

from __future__ import annotations

import base64
import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest
from conftest import APP_SIZE, make_config, open_console, target, until
from peers import ConsolePeer, echo
from textual.geometry import Offset

from console_tui import lab
from console_tui.core import keys
from console_tui.core.screen import make_screen
from console_tui.ui.app import ConsoleApp
from console_tui.ui.widgets.console_pane import ConsolePane
from console_tui.ui.widgets.terminal import TerminalView


def console_cursor(pane: ConsolePane) -> Offset:
    """Where the console cursor is on the app's screen."""
    view = pane.terminal
    cursor = view.screen_model.cursor
    assert cursor is not None
    region = view.scrollable_content_region
    return Offset(region.x + cursor[0], region.y + cursor[1])


async def test_tab_and_shift_tab_into_the_console_put_the_cursor_on_its_cursor(
    sock_dir: Path,
) -> None:
    """Tab from the tab bar, and Shift+Tab from the control after the console, both land the
    real cursor on the console cursor (not where the focus came from)."""
    config = make_config(sock_dir, target("box", sock_dir / "box.sock"))
    async with ConsolePeer(sock_dir / "box.sock", b"hello\r\nbox$ ", reply=echo):
        app = ConsoleApp(config, screen_reader=True, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "box")
            await until(pilot, lambda: "box$" in pane.terminal.screen_text(), "the prompt")
            await until(pilot, lambda: app.cursor_position == console_cursor(pane), "on entry")
            await pilot.press("ctrl+f6")
            await until(pilot, lambda: app.cursor_position != console_cursor(pane), "left")
            await pilot.press("tab")
            assert isinstance(app.focused, TerminalView)
            await until(pilot, lambda: app.cursor_position == console_cursor(pane), "Tab in")
            app.screen.focus_next()  # the control after the console (Tab there goes to the guest)
            await until(pilot, lambda: app.cursor_position != console_cursor(pane), "after it")
            await pilot.press("shift+tab")
            assert isinstance(app.focused, TerminalView)
            await until(pilot, lambda: app.cursor_position == console_cursor(pane), "Shift+Tab")


class AppInPty:
    """The real app in a pseudo-terminal, as an operator's terminal runs it: every byte it
    writes is counted and drawn on a terminal screen model, so a test sees what is written and
    what the terminal shows."""

    def __init__(self, args: list[str], columns: int, rows: int) -> None:
        env = dict(os.environ, TERM="xterm-256color")
        env.pop("NO_COLOR", None)
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "console_tui.cli", *args],
            env=env,
            dimensions=(rows, columns),
            timeout=30,
        )
        self.screen = make_screen(columns, rows)
        self.written = bytearray()

    def _read(self, timeout: float) -> bytes:
        try:
            data: bytes = self.child.read_nonblocking(1 << 20, timeout=timeout)
        except pexpect.TIMEOUT:
            return b""
        self.written += data
        self.screen.feed(data)
        return data

    def text(self) -> str:
        return "\n".join(row.text for row in self.screen.rows())

    def until(self, words: str, timeout: float = 60.0) -> None:
        """Read until the terminal shows `words` (bounded)."""
        deadline = time.monotonic() + timeout
        while words not in self.text():
            assert time.monotonic() < deadline, f"{words!r} never showed:\n{self.text()}"
            self._read(0.2)

    def settle(self, quiet: float = 1.0, limit: float = 20.0) -> bytes:
        """What the app writes until it has been quiet for `quiet` seconds (bounded)."""
        start = len(self.written)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and self._read(quiet):
            pass
        return bytes(self.written[start:])

    def press(self, keys: str, quiet: float = 1.0) -> bytes:
        """Send keys as the terminal encodes them; what the app wrote in answer."""
        self.settle(0.3)
        self.child.send(keys)
        return self.settle(quiet)

    def close(self) -> None:
        self.child.close(force=True)


CTRL_F5, CTRL_F6, F2, UP, ESCAPE = "\x1b[15;5~", "\x1b[17;5~", "\x1bOQ", "\x1b[A", "\x1b"


def spoken(data: bytes) -> str:
    """The text in what the app wrote, escape sequences taken out; a move of the cursor to
    somewhere else breaks the text there (with a line end)."""
    text = re.sub(r"\x1b\[\d*;\d*H", "\n", data.decode())
    return re.sub(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\))", "", text).strip("\n")


SENTENCE = (
    "the quick brown fox jumps over the lazy dog and runs on past the right edge of the console"
)
"""A line wider than the console at 80x24; the command that prints it says `$x` for "fox", so the
line is told apart from the command that printed it."""


def words(data: bytes) -> str:
    """What a reader that speaks the written text hears, spacing evened out."""
    return " ".join(spoken(data).split())


@pytest.mark.guest
def test_screen_reader_mode_writes_each_change_once(
    guest: lab.LabInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The app in a pty at 80x24 with --screen-reader on the demo guest. One typed key writes the
    key. A command's output line, wider than the console, is written once and whole, then the
    prompt. Leaving the console writes what changed (focus marks, footer, the announcement) and
    none of the console or the target list. Opening SysRq writes its list once. Copy mode
    copies through the terminal (OSC 52, as over SSH) with the real cursor on the copy cursor.
    The figures are printed."""
    app = AppInPty(["--config", str(guest.config_path), "--screen-reader"], 80, 24)
    try:
        app.until(guest.target_name)
        app.settle()
        screen = bytes(app.written)  # the first picture, whole
        app.press("\r")  # open the target's console
        app.press("\r")
        app.until("demo:~#")
        typed = app.press("x")
        app.until("demo:~# x")
        app.press("\x7f")
        output = app.press(f"x=fox; echo {SENTENCE.replace('fox', '$x')}\r", quiet=2.5)
        app.until("edge of the")
        app.press(CTRL_F5)
        app.press(UP)
        cursor_row = app.screen.rows()[app.screen.cursor[1]].text  # type: ignore[index]
        copied = app.press("y")
        leaving = app.press(CTRL_F6)
        app.until("left the console")
        sysrq = app.press(F2)
        app.until("SysRq on demo")
        app.press(ESCAPE)
    finally:
        app.close()
    with capsys.disabled():
        print(
            f"\nscreen-reader 80x24: first screen {len(screen)} B, one typed key {len(typed)} B, "
            f"leaving the console {len(leaving)} B, opening SysRq {len(sysrq)} B"
        )
    assert spoken(typed) == "x"
    assert len(typed) < 32
    heard = words(output)
    assert heard.count(SENTENCE) == 1, heard  # once (not in two views), whole (not cut)
    assert heard.endswith("demo:~#"), heard  # then the prompt
    clip = re.search(rb"\x1b\]52;c;([A-Za-z0-9+/=]*)(\x07|\x1b\\)", copied)
    assert clip is not None, copied
    text = base64.b64decode(clip[1]).decode()
    assert text and SENTENCE.endswith(text), text
    assert text in cursor_row
    for unchanged in ("demo:~#", "Filter targets", "Targets"):  # the console, the target list
        assert unchanged not in spoken(leaving)
    assert len(leaving) < len(screen) / 2
    said = spoken(sysrq)
    counts = {what: said.count(what) for what in keys.SYSRQ_KEYS.values()}
    assert set(counts.values()) <= {0, 1}, counts  # each key of the list written once at most
    assert sum(counts.values()) >= 3, counts  # (as many as the list shows at 80x24)

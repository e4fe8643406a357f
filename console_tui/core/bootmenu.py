"""Boot menus on the serial line: recognising GRUB's menu, SeaBIOS's boot menu and UEFI (OVMF) setup
in console output after a reset, the key that holds each, and paced key plans for the GRUB helpers
(pick entry N, edit, append to the kernel line, boot, command line).

Boot loaders speak plain ANSI whatever the target's `keys` setting says (they set no cursor-key mode),
so the keys here are fixed bytes. A boot loader reads its UART by polling: keys are paced so none is
lost, and a multi-byte key is never split from its escape. (Past 400 lines: recognising a menu,
the keys for it and reading GRUB's editor back are one conversation with the boot loader.)
"""

from __future__ import annotations

import asyncio
import enum
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from console_tui.core.keys import Step

UP = b"\x1b[A"
DOWN = b"\x1b[B"
HOME = b"\x1b[H"
ESC = b"\x1b"
ENTER = b"\r"
CTRL_E = b"\x05"
CTRL_X = b"\x18"
BACKSPACE = b"\x08"
F2 = b"\x1bOQ"
F10 = b"\x1b[21~"
KEY_PAUSE = 0.08
"""Seconds between keys: a boot loader polls its UART and redraws after each key."""
SCREEN_PAUSE = 0.5
"""Seconds for a boot loader to draw a new screen (the editor, the command line) before typing."""
KEY_ECHO_SECONDS = 2.0
"""The longest wait for a boot loader to redraw after a key (a key that moves nothing draws nothing)."""
ECHO_SECONDS = 1.0
"""The longest wait for a boot loader's editor to draw one typed key before the next is sent."""
SETTLE = 0.4
"""Seconds of quiet after which a menu being drawn counts as drawn."""
REPEAT_SECONDS = 0.3
"""How often the UEFI setup key (ESC) is sent while the firmware starts (it reads keys only now and
then; F2 gets there too but then keeps the front page redrawing)."""

KERNEL_EDITS = {
    "single": "single",
    "rescue": "systemd.unit=rescue.target",
    "emergency": "systemd.unit=emergency.target",
    "init-sh": "init=/bin/sh",
    "rd-break": "rd.break",
}
"""Common kernel-line edits, offered by name: single-user, rescue target, a bare shell, initramfs."""


class MenuKind(enum.StrEnum):
    """Which menu "reset into the boot menu" aims for."""

    GRUB = "grub"
    """the boot loader's menu (GRUB), after whatever firmware comes first"""
    FIRMWARE = "firmware"
    """the firmware's own: SeaBIOS's boot device menu, or UEFI setup"""


_ANSI = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[@-Z\\-_])")
GRUB_MENU = re.compile(r"Use the \S+ and \S+ keys to select")
SEABIOS = re.compile(r"SeaBIOS \(version")
SEABIOS_PROMPT = re.compile(r"Press (?:ESC|F12) for boot menu")
SEABIOS_MENU = re.compile(r"Select boot device")
OVMF_SETUP = re.compile(r"Boot Maintenance Manager|Device Manager|Boot Manager Menu")
OVMF_START = re.compile(rb"\x1b\[=3h|\x1b\[\d\d;\d\dH|BdsDxe")
"""OVMF's first bytes: its terminal driver's mode and two-digit cursor moves, or its boot lines."""
KERNEL_BOOTING = re.compile(r"Linux version \d|Decompressing Linux|Booting the kernel")
SCREEN_WORDS = 4096
"""How much recent console text (escape sequences removed) the watcher keeps to match against."""


@dataclass
class MenuWatch:
    """Watches console output after a reset and says which keys to send, and when the menu is up.

    Feed it the console's bytes (`feed`) and the clock (`due`); it answers with bytes to send.
    `up` names the menu once it is held; `seen` lists what it recognised on the way, for the reason
    when the menu never comes.
    """

    want: MenuKind = MenuKind.GRUB
    up: str = ""
    missed: bool = False
    """The boot went past where the menu would be (a kernel started): waiting longer is moot."""
    seen: list[str] = field(default_factory=list)
    text: str = ""
    _raw: bytes = b""
    _repeat_from: float | None = None
    _last_repeat: float = 0.0
    _saw_output: bool = False
    _last_output: float = 0.0
    _drawing: str = ""
    """The menu being drawn: it is up once the console falls quiet (entries follow the title)."""

    def feed(self, data: bytes, now: float) -> bytes:
        """New console bytes; the keys to send now (empty for none)."""
        if not data or self.up or self.missed:
            return b""
        self._saw_output = True
        self._last_output = now
        raw = (self._raw + data)[-SCREEN_WORDS:]
        self._raw = raw
        self.text = _ANSI.sub(b" ", raw).decode("utf-8", "replace")
        if self.want == MenuKind.GRUB:
            return self._grub(now)
        return self._firmware(raw, now)

    def due(self, now: float) -> bytes:
        """Keys that are due by the clock alone: the UEFI setup key, repeated during start.
        A menu is up once its drawing has settled (GRUB's entries follow its help text)."""
        if self._drawing and not self.up and now - self._last_output >= SETTLE:
            self.up = self._drawing
        if self.up or self._repeat_from is None or now - self._last_repeat < REPEAT_SECONDS:
            return b""
        self._last_repeat = now
        return ESC

    def _note(self, what: str) -> None:
        if what not in self.seen:
            self.seen.append(what)

    def _grub(self, now: float) -> bytes:
        if SEABIOS.search(self.text):
            self._note("SeaBIOS")
        if OVMF_START.search(self._raw):
            self._note("UEFI firmware")
        if GRUB_MENU.search(self.text):
            if "GRUB menu" in self.seen:
                return b""
            self._note("GRUB menu")
            self._drawing = "GRUB menu"
            # Any key stops GRUB's countdown; Up on the default (first) entry moves nothing.
            return UP
        self._kernel_booting()
        return b""

    def _kernel_booting(self) -> None:
        """A kernel that starts before the menu means the menu will not come this boot."""
        if KERNEL_BOOTING.search(self.text):
            self._note("a kernel booting")
            self.missed = True

    def _firmware(self, raw: bytes, now: float) -> bytes:
        if SEABIOS.search(self.text):
            self._note("SeaBIOS")
            self._repeat_from = None
            if SEABIOS_MENU.search(self.text):
                self._drawing = "SeaBIOS boot menu"
                return b""
            if SEABIOS_PROMPT.search(self.text) and "ESC sent" not in self.seen:
                self.seen.append("ESC sent")
                return ESC
            return b""
        if OVMF_SETUP.search(self.text):
            self._note("UEFI setup")
            self._drawing = "UEFI setup"
            self._repeat_from = None
            return b""
        if GRUB_MENU.search(self.text):
            self._note("GRUB menu")
            self.missed = True  # the firmware handed over to its boot loader: its keys are late
        self._kernel_booting()
        if self._repeat_from is None and OVMF_START.search(raw):
            self._note("UEFI firmware")
            self._repeat_from = now
            self._last_repeat = now
            return ESC
        return b""

    def reason(self, seconds: float) -> str:
        """Why the menu never came, in the operator's words."""
        wanted = "GRUB menu" if self.want == MenuKind.GRUB else "firmware boot menu or setup"
        if not self._saw_output:
            return (
                f"no {wanted}: the console printed nothing in {seconds:.0f} s after the reset "
                "(is the firmware's console on this serial line? SeaBIOS needs "
                "-machine graphics=off; GRUB needs serial terminal_output)"
            )
        if "a kernel booting" in self.seen:
            return (
                f"no {wanted}: the guest went straight to its kernel (direct kernel boot, a hidden "
                "menu or timeout=0, or a boot loader not on this serial line)"
            )
        saw = ", ".join(s for s in self.seen if s != "ESC sent") or "other output only"
        return f"no {wanted} in {seconds:.0f} s after the reset; saw: {saw}"


def paced(data: bytes, pause: float = KEY_PAUSE) -> list[Step]:
    """Keys one at a time (an escape sequence stays whole), each once the loader has redrawn
    after the one before (or `KEY_ECHO_SECONDS` passed), then `pause`."""
    steps: list[Step] = []
    for key in split_keys(data):
        steps += [Step("echo", key, seconds=KEY_ECHO_SECONDS), Step("sleep", seconds=pause)]
    return steps


def typed(text: str) -> list[Step]:
    """Text for a boot loader's line editor, a key at a time, each once the loader has drawn the
    one before (GRUB repeats a key that arrives while it redraws a long line)."""
    return [Step("echo", bytes([byte]), seconds=ECHO_SECONDS) for byte in text.encode()]


def split_keys(data: bytes) -> list[bytes]:
    """`data` as separate keys: an ESC with the CSI/SS3 sequence it starts, else one byte."""
    keys: list[bytes] = []
    at = 0
    while at < len(data):
        match = re.compile(rb"\x1b(?:\[[0-9;]*[~A-Za-z]|O[A-Za-z])").match(data, at)
        end = match.end() if match else at + 1
        keys.append(data[at:end])
        at = end
    return keys


def pick_entry_plan(entry: int) -> list[Step]:
    """Choose entry `entry` (1 = first) of a GRUB menu that is up, and boot it."""
    if entry < 1:
        raise ValueError(f"menu entries count from 1, not {entry}")
    return [*paced(HOME + DOWN * (entry - 1)), Step("sleep", seconds=KEY_PAUSE), *paced(ENTER)]


def edit_plan() -> list[Step]:
    """Open GRUB's editor on the selected entry."""
    return [*paced(b"e"), Step("sleep", seconds=SCREEN_PAUSE)]


def append_kernel_arg_plan(arg: str, *, line: int = 2, boot: bool = True) -> list[Step]:
    """In GRUB's editor (open): go to the kernel line (`line` Down presses from the top; GRUB puts
    `setparams` and a blank line first), append ` ARG` at its end, then boot it (Ctrl+X)."""
    check_kernel_arg(arg)
    plan = [*paced(DOWN * line + CTRL_E), *typed(f" {arg}")]
    if boot:
        plan += [Step("sleep", seconds=SCREEN_PAUSE), *paced(CTRL_X)]
    return plan


KERNEL_COMMANDS = ("linux", "linuxefi", "linux16", "kernel")


def editor_lines(rows: list[str]) -> list[str]:
    """The lines of GRUB's entry editor read off the screen (0 = `setparams`), each joined across
    the rows it wraps over (a wrapped row ends in `\\` by the box's edge); empty when none shows."""
    top = next((i for i, row in enumerate(rows) if "setparams" in row), None)
    if top is None:
        return []
    column = rows[top].index("setparams")
    lines: list[str] = []
    wrapped = False
    for row in rows[top:]:
        body = row[column:].rstrip()[:-1]
        text = body[:-1] if body.endswith("\\") else body.rstrip()
        if wrapped:
            lines[-1] += text
        else:
            lines.append(text)
        wrapped = body.endswith("\\")
    return lines


def kernel_line(rows: list[str]) -> int | None:
    """Which line of GRUB's editor loads the kernel (`linux ...`), or None when none shows."""
    for number, text in enumerate(editor_lines(rows)):
        if text.split(maxsplit=1)[:1] and text.split()[0] in KERNEL_COMMANDS:
            return number
    return None


async def find_kernel_line(display: Callable[[], list[str]], timeout: float = 15.0) -> int:
    """Wait for GRUB's editor to show a kernel line; its line number, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while (line := kernel_line(display())) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(
                "no kernel line (linux ...) in the boot loader's editor: is a GRUB menu up?"
            )
        await asyncio.sleep(0.1)
    return line


def correction_plan(shown: str, wanted: str) -> list[Step]:
    """Keys that turn the line `shown` (cursor at its end) into `wanted`: Backspace back to where
    they differ, then the rest typed; empty when they agree."""
    same = 0
    while same < min(len(shown), len(wanted)) and shown[same] == wanted[same]:
        same += 1
    if shown == wanted:
        return []
    return [*paced(BACKSPACE * (len(shown) - same)), *typed(wanted[same:])]


async def append_to_kernel_line(
    run: Callable[[list[Step]], Awaitable[None]],
    display: Callable[[], list[str]],
    arg: str,
    *,
    tries: int = 3,
) -> None:
    """In GRUB's editor (open): find the kernel line, append ` ARG`, read it back and mend what a
    serial line or the loader got wrong (a key lost or repeated), then boot it (Ctrl+X).
    ValueError, without booting, when the line still reads wrong."""
    line = await find_kernel_line(display)
    original = editor_lines(display())[line]
    wanted = f"{original} {arg}"
    await run(paced(DOWN * line + CTRL_E))
    shown = original
    for _ in range(tries):
        plan = correction_plan(shown, wanted)
        if not plan:
            break
        await run(plan)
        lines = editor_lines(display())
        shown = lines[line] if len(lines) > line else ""
    if shown != wanted:
        raise ValueError(
            f"the kernel line reads {shown[-60:]!r}, not ...{wanted[-60:]!r}: not booted; "
            "fix it in the editor (still open) and boot with Ctrl+X"
        )
    await run([Step("sleep", seconds=SCREEN_PAUSE), *paced(CTRL_X)])


def command_line_plan() -> list[Step]:
    """GRUB's command line (`c`) from its menu."""
    return [*paced(b"c"), Step("sleep", seconds=SCREEN_PAUSE)]


def boot_edited_plan() -> list[Step]:
    """Boot the entry being edited (Ctrl+X; F10 does the same in GRUB)."""
    return paced(CTRL_X)


def kernel_edit(value: str) -> str:
    """A kernel argument, or the one a common edit's name stands for (`rescue`)."""
    return KERNEL_EDITS.get(value, value)


def check_kernel_arg(arg: str) -> None:
    """A kernel argument is printable text without line breaks (it is typed into an editor)."""
    if not arg or not arg.isprintable() or not arg.strip():
        raise ValueError(f"a kernel argument is printable text on one line, not {arg!r}")


HELPERS = {
    "entry": "pick menu entry N and boot it",
    "select": "select menu entry N (to edit it)",
    "edit": "edit the selected entry (e)",
    "append": "append ARG to the selected entry's kernel line and boot it",
    "boot": "boot the edited entry (Ctrl+X)",
    "command-line": "GRUB's command line (c)",
}
"""The boot menu helpers, by name: what `boot_keys` sends for each."""


def helper_plan(action: str, value: str = "") -> tuple[list[Step], str]:
    """The key plan for one helper and what it did in words; ValueError says what is wrong."""
    if action in ("entry", "select"):
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"a menu entry is a number from 1, not {value!r}")
        if action == "entry":
            return pick_entry_plan(int(value)), f"chose boot menu entry {int(value)}"
        return paced(HOME + DOWN * (int(value) - 1)), f"selected boot menu entry {int(value)}"
    if action == "edit":
        return edit_plan(), "opened the entry editor"
    if action == "append":
        arg = kernel_edit(value)
        plan = [*edit_plan(), *append_kernel_arg_plan(arg)]
        return plan, f"booted the entry with {arg!r} appended"
    if action == "boot":
        return boot_edited_plan(), "booted the edited entry"
    if action == "command-line":
        return command_line_plan(), "opened the boot loader's command line"
    raise ValueError(f"unknown boot menu helper {action!r}: use one of {', '.join(HELPERS)}")


def menu_kind(menu: str) -> MenuKind:
    """`grub` or `firmware`; ValueError names the choices."""
    try:
        return MenuKind(menu)
    except ValueError:
        raise ValueError(
            f"unknown boot menu {menu!r}: use one of {', '.join(k.value for k in MenuKind)}"
        ) from None


async def hold_menu(
    watch: MenuWatch,
    output: asyncio.Queue[bytes],
    send: Callable[[bytes], Awaitable[None]],
    timeout: float,
) -> str:
    """Read console output from `output` until `watch` says its menu is up, sending the keys it
    asks for; the menu's name, or TimeoutError with the reason it never came."""
    deadline = time.monotonic() + timeout
    while not watch.up:
        left = deadline - time.monotonic()
        if left <= 0 or watch.missed:
            raise TimeoutError(watch.reason(timeout - max(left, 0)))
        try:
            data = await asyncio.wait_for(output.get(), min(left, REPEAT_SECONDS / 2))
        except TimeoutError:
            data = b""
        now = time.monotonic()
        keys = watch.feed(data, now) + watch.due(now)
        if keys:
            await send(keys)
    return watch.up

"""Raw passthrough to one console, with OpenSSH-style escapes after Enter.

Used by `console-tui attach` in the local terminal and by `ssh -t console@host NAME`: input bytes in,
terminal bytes out, every action through the Hub. The escapes:

    ~.  detach            ~b  BREAK             ~s KEY  SysRq KEY
    ~n  NMI (asks y/n)    ~r  reset (asks y/n)  ~f N    function key N (1-12, then Enter)
    ~w  write lock        ~?  help and menu     ~~      a literal ~

`~?` also prints a numbered menu of every action, a page that fits the terminal at a time (Space
shows the next), answered by typing its number and Enter: the plain path for screen-reader and
braille users, where each action confirms in words what was sent.

Past 400 lines: the escapes, the menu and its confirmations are one state machine over the typed
bytes, and read together; the terminal filtering is core/terminal_filter.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from console_tui.core import bootmenu, keys
from console_tui.core.api import LOCK_REQUESTED, Event, EventKind, HubAPI, Viewer
from console_tui.core.errors import ConsoleError
from console_tui.core.terminal_filter import ReplyFilter, TerminalFilter

ESCAPE = ord("~")
SAY_TAG = "[console-tui] "
"""What `say` puts before a line of our own (the menu counts it when it fits a page)."""
REFUSAL_QUIET = 10.0
"""Seconds before the same refusal is said again while the operator keeps typing."""

HELP = """\
console-tui escapes (type them after Enter):
  ~.  detach                 ~b  send BREAK
  ~s  then a key: SysRq      ~n  send NMI (asks)
  ~r  reset (asks)           ~f  then 1-12 and Enter: function key
  ~w  take or ask for the write lock
  ~?  this help              ~~  a literal ~
"""


@dataclass(frozen=True)
class MenuItem:
    """One numbered action: what it does, and why it cannot be done here (empty when it can)."""

    label: str
    action: Callable[[], Awaitable[str]] | None = None
    confirm: str = ""
    reason: str = ""


class Passthrough:
    """Feeds keystrokes to the Hub, console output to the terminal, and acts on escapes.

    Console output passes a `TerminalFilter` (the session's screen model answers the guest's
    queries; the operator's terminal never sees them, nor OSC, titles or lingering modes), and
    `restore_terminal` undoes what it let through. Input loses the terminal's answers to queries.
    The output side honours flow control: while paused, the viewer's bounded queue fills, drops
    what it holds and starts over from a snapshot, so a slow reader costs bounded memory.
    """

    def __init__(
        self,
        hub: HubAPI,
        viewer: Viewer,
        write_out: Callable[[bytes], None],
        *,
        size: Callable[[], tuple[int, int]] = lambda: (80, 24),
    ) -> None:
        self.hub = hub
        self.viewer = viewer
        self.write_out = write_out
        self.size = size
        """The operator's terminal (columns, rows) now, so the `~?` menu pages to fit it."""
        self._shown = 0
        self.done = asyncio.Event()
        self._line_start = True
        self._mode = "normal"  # normal | tilde | sysrq | fkey | confirm-nmi | confirm-reset
        self._digits = ""
        self._menu: list[MenuItem] = []
        self._confirming: MenuItem | None = None
        self._last_refusal = ""
        self._last_refusal_at = 0.0
        self._pending: list[asyncio.Task[None]] = []
        self._filter = TerminalFilter("passthrough")
        self._replies = ReplyFilter()
        self._writable = asyncio.Event()
        self._writable.set()
        self._restored = False

    def say(self, text: str) -> None:
        """A line of our own, set apart from console output."""
        body = text.rstrip("\n").replace("\n", "\r\n")
        self.write_out(f"\r\n[console-tui] {body}\r\n".encode())

    def pause_output(self) -> None:
        """The operator's side cannot take more now (an SSH channel's send buffer is full)."""
        self._writable.clear()

    def resume_output(self) -> None:
        self._writable.set()

    def restore_terminal(self) -> None:
        """Undo every mode the console's output set on the operator's terminal (once)."""
        if not self._restored:
            self._restored = True
            self.write_out(self._filter.restore())

    async def pump_output(self) -> None:
        """Console output and session events to the terminal, until detached."""
        async for event in self.viewer.events():
            self._show(event)
            await self._writable.wait()
        self.done.set()

    def _show(self, event: Event) -> None:
        if event.kind in (EventKind.OUTPUT, EventKind.SNAPSHOT):
            if event.kind == EventKind.SNAPSHOT:
                self._filter.reset()
            if self._restored:
                return
            data = self._filter.feed(event.data)
            if data:
                self.write_out(data)
        elif event.kind == EventKind.DETACHED:
            self.restore_terminal()
            self.say(event.text)
        elif event.kind == EventKind.STATE:
            self.say(f"console {event.text}")
        elif event.kind == EventKind.LOCK:
            self.say(f"write lock: {event.text or 'free'}")
        elif event.kind == EventKind.NOTICE and event.detail == LOCK_REQUESTED:
            self.say(f"{event.text} (hand it over: ~w)")
        elif event.kind == EventKind.NOTICE:
            self.say(event.text)

    async def feed(self, data: bytes) -> None:
        """Keystrokes from the operator's terminal."""
        data = self._replies.feed(data)
        plain = bytearray()
        for byte in data:
            if self.done.is_set():
                return
            if self._mode == "normal":
                if byte == ESCAPE and self._line_start:
                    self._mode = "tilde"
                    continue
                plain.append(byte)
                self._line_start = byte in (0x0D, 0x0A)
                continue
            await self._flush(plain)
            if byte == ESCAPE and self._line_start and self._mode != "tilde":
                # `~` after Enter always starts an escape, even while a prompt waits: `~.` detaches.
                self._digits, self._confirming = "", None
                self.say("cancelled")
                self._mode = "tilde"
                continue
            await self._escape_byte(byte)
        await self._flush(plain)

    async def _flush(self, plain: bytearray) -> None:
        if plain:
            data = bytes(plain)
            plain.clear()
            await self._act(self.hub.write(self.viewer, data))

    async def _escape_byte(self, byte: int) -> None:
        char = chr(byte)
        mode, self._mode = self._mode, "normal"
        if mode == "tilde":
            await self._tilde(char, byte)
        elif mode == "sysrq":
            self._line_start = byte in (0x0D, 0x0A)
            if char in keys.SYSRQ_KEYS:
                await self._choose(self._sysrq_item(char))
            else:
                self.say(f"no SysRq key {char!r}; keys: {''.join(sorted(keys.SYSRQ_KEYS))}")
        elif mode == "fkey":
            if char.isdigit() and len(self._digits) < 2:
                self._digits += char
                self._mode = "fkey"
                self.write_out(byte.to_bytes(1, "big"))
                return
            number, self._digits = self._digits, ""
            if char in "\r\n" and number and 1 <= int(number) <= 12:
                if await self._act(self.hub.send_keys(self.viewer, [f"f{int(number)}"])):
                    self.say(f"sent F{int(number)}")
            else:
                self.say("function key cancelled: type ~f, a number from 1 to 12, then Enter")
            self._line_start = True
        elif mode == "menu":
            await self._menu_byte(char, byte)
        elif mode == "confirm-menu":
            item, self._confirming = self._confirming, None
            self._line_start = True
            if char.lower() == "y" and item is not None and item.action is not None:
                await self._run_item(item)
            else:
                self.say("not sent")
        elif mode in ("confirm-nmi", "confirm-reset"):
            action = mode.removeprefix("confirm-")
            if char.lower() == "y":
                call = self.hub.nmi(self.viewer) if action == "nmi" else self.hub.reset(self.viewer)
                if await self._act(call):
                    self.say(f"sent {action.upper()}")
            else:
                self.say(f"{action.upper()} not sent")
            self._line_start = True

    async def _tilde(self, char: str, byte: int) -> None:
        self._line_start = False
        if char == ".":
            self.restore_terminal()
            self.say("detached")
            await self.hub.detach(self.viewer)
            self.done.set()
        elif char == "~":
            await self._act(self.hub.write(self.viewer, b"~"))
        elif char == "b":
            if await self._act(self.hub.send_break(self.viewer)):
                self.say("sent BREAK")
        elif char == "s":
            self._mode = "sysrq"
            name = self.viewer.target
            keyboard = not self.hub.can_break(name).ok and self.hub.target(name).control
            way = "through the control's keyboard, as this line cannot BREAK; " if keyboard else ""
            self.say(f"SysRq key? ({way}h for help; the guest's kernel.sysrq decides what acts)")
        elif char == "f":
            self._mode = "fkey"
            self._digits = ""
            self.say("function key 1-12, then Enter:")
        elif char in "nr":
            self._mode = "confirm-nmi" if char == "n" else "confirm-reset"
            what = "NMI" if char == "n" else "reset"
            self.say(f"send {what} to {self.viewer.target}? (y/n)")
        elif char == "w":
            await self._lock()
        elif char == "?":
            self._menu = self.menu()
            self._shown = 0
            self._show_page([HELP.rstrip(), self._who(), ""])
        else:
            # Not an escape: send the ~ and the key as typed, as OpenSSH does.
            await self._act(self.hub.write(self.viewer, b"~" + bytes([byte])))
            self._line_start = byte in (0x0D, 0x0A)

    async def _menu_byte(self, char: str, byte: int) -> None:
        if char.isdigit() and len(self._digits) < 3:
            self._digits += char
            self._mode = "menu"
            self.write_out(char.encode())
            return
        if byte in (0x7F, 0x08) and self._digits:
            self._digits = self._digits[:-1]
            self._mode = "menu"
            self.write_out(b"\b \b")
            return
        number, self._digits = self._digits, ""
        self._line_start = True
        if char == " " and not number and self._shown < len(self._menu):
            self._show_page([])
            return
        if char not in "\r\n" or not number:
            self.say("menu closed")
            return
        index = int(number) - 1
        if not 0 <= index < len(self._menu):
            self.say(f"no action {number}: the menu has 1 to {len(self._menu)}; ~? shows it again")
            return
        await self._choose(self._menu[index])

    def _show_page(self, header: list[str]) -> None:
        """The next page of the numbered menu, as many actions as fit the operator's terminal
        under `header`, so the header never scrolls off; Space shows the next page."""
        columns, rows = self.size()
        columns = max(columns, 20)

        def height(line: str) -> int:
            return max(1, -(-len(line) // columns))

        first = last = self._shown
        heading = f"Actions {first + 1}-{{last}} of {len(self._menu)}: a number and Enter runs one"
        heading += "; Space shows more; Enter alone closes"
        # The line break before it, the tag on its first line, the heading, and the prompt.
        top = "\n".join([*header, heading]).split("\n")
        used = 1 + height(SAY_TAG + top[0]) + sum(height(line) for line in top[1:]) + 1
        lines: list[str] = []
        said = ""
        while last < len(self._menu):
            item = self._menu[last]
            note = ""
            if item.reason:
                note = "  (unavailable, as above)" if item.reason == said else ""
                note = note or f"  (unavailable: {item.reason})"
                said = item.reason
            line = f"{last + 1:3d}  {item.label}{note}"
            if lines and used + height(line) > rows:
                break
            used += height(line)
            lines.append(line)
            last += 1
        if last == len(self._menu):
            heading = heading.replace("; Space shows more", "")
        self._shown = last
        self.say("\n".join([*header, heading.format(last=last), *lines]))
        self.write_out(b"number> ")
        self._mode = "menu"
        self._digits = ""

    async def _choose(self, item: MenuItem) -> None:
        """Run an action, or ask first (y/n) when it cannot be taken back."""
        if item.reason or item.action is None:
            self.say(f"{item.label}: unavailable: {item.reason}")
        elif item.confirm:
            self._confirming = item
            self._mode = "confirm-menu"
            self.say(f"{item.confirm} (y/n)")
        else:
            await self._run_item(item)

    async def _run_item(self, item: MenuItem) -> None:
        assert item.action is not None
        try:
            said = await item.action()
        except ConsoleError as exc:
            self.say(str(exc))
            return
        if said:
            self.say(said)

    def menu(self) -> list[MenuItem]:
        """Every action the full-screen app offers for this target, numbered in this order."""
        hub, viewer = self.hub, self.viewer
        target = hub.target(viewer.target)
        brk = hub.can_break(viewer.target)
        control = hub.can_control(viewer.target)

        async def brk_action() -> str:
            await hub.send_break(viewer)
            return "sent BREAK"

        items = [MenuItem("Send BREAK", brk_action, reason=brk.reason)]

        sysrq = hub.can_sysrq(viewer.target)
        items += [self._sysrq_item(key, sysrq.reason) for key in keys.SYSRQ_KEYS]

        async def nmi() -> str:
            await hub.nmi(viewer)
            return f"sent NMI to {viewer.target}"

        async def reset() -> str:
            await hub.reset(viewer)
            return f"reset {viewer.target}"

        items.append(MenuItem("Send NMI", nmi, f"send NMI to {viewer.target}?", control.reason))
        items.append(
            MenuItem("Reset the machine", reset, f"reset {viewer.target}?", control.reason)
        )

        def send(names: list[str], label: str) -> Callable[[], Awaitable[str]]:
            async def run() -> str:
                await hub.send_keys(viewer, names)
                return f"sent {label}"

            return run

        write = hub.can_write(viewer.target).reason
        for number in range(1, 13):
            items.append(
                MenuItem(f"Function key F{number}", send([f"f{number}"], f"F{number}"), "", write)
            )
        items.append(MenuItem("Esc key", send(["esc"], "Esc"), "", write))
        items += self._boot_items(control.reason or write, write)
        if target.os == "windows":
            for action in keys.SAC_ACTIONS:
                items.append(
                    MenuItem(
                        f"SAC: {action.description}",
                        self._typer(action.data, f"SAC: {action.description}"),
                    )
                )
        items.append(MenuItem("Take, ask for, or hand over the write lock", self._lock_item))
        items.append(MenuItem("Detach", self._detach_item))
        return items

    def _sysrq_item(self, key: str, reason: str = "") -> MenuItem:
        """SysRq `key` as an action; reboot, crash and power off ask first."""
        meaning = keys.SYSRQ_KEYS[key]

        async def run() -> str:
            said = await self.hub.sysrq(self.viewer, key)
            return f"{said} ({meaning})"

        confirm = ""
        if keys.dangerous_sysrq(key) and self.viewer.may_write:  # a viewer is refused, not asked
            question, detail = keys.sysrq_question(key, self.viewer.target)
            confirm = f"{detail} {question}"
        return MenuItem(f"SysRq {key}: {meaning}", run, confirm, reason)

    def _boot_items(self, control_reason: str, write_reason: str) -> list[MenuItem]:
        """Reset into the boot menu (GRUB or the firmware's), and GRUB's helpers as paced keys."""
        hub, viewer = self.hub, self.viewer

        def hold(menu: str) -> Callable[[], Awaitable[str]]:
            async def run() -> str:
                return f"{await hub.boot_menu(viewer, menu)} is up"

            return run

        def helper(action: str, value: str = "") -> Callable[[], Awaitable[str]]:
            async def run() -> str:
                return await hub.boot_keys(viewer, action, value)

            return run

        ask = f"reset {viewer.target} into its boot menu?"
        items = [
            MenuItem("Boot menu: reset and hold GRUB's menu", hold("grub"), ask, control_reason),
            MenuItem(
                "Boot menu: reset into the firmware's (SeaBIOS menu, UEFI setup)",
                hold("firmware"),
                ask,
                control_reason,
            ),
        ]
        items += [
            MenuItem(f"Boot menu: boot entry {n}", helper("entry", str(n))) for n in (1, 2, 3)
        ]
        items += [
            MenuItem("Boot menu: edit the selected entry (e)", helper("edit"), "", write_reason),
            MenuItem("Boot menu: boot the edited entry (Ctrl+X)", helper("boot"), "", write_reason),
            MenuItem("Boot menu: GRUB command line (c)", helper("command-line"), "", write_reason),
        ]
        items += [
            MenuItem(
                f"Boot menu: append {arg} to the kernel line and boot",
                helper("append", arg),
                "",
                write_reason,
            )
            for arg in bootmenu.KERNEL_EDITS.values()
        ]
        return items

    def _typer(self, data: bytes, said: str) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            await self.hub.write(self.viewer, data)
            return f"sent {said}"

        return run

    async def _lock_item(self) -> str:
        await self._lock()
        return ""

    async def _detach_item(self) -> str:
        self.restore_terminal()
        self.say("detached")
        await self.hub.detach(self.viewer)
        self.done.set()
        return ""

    async def _lock(self) -> None:
        try:
            if self.hub.status(self.viewer.target).writer_id == self.viewer.id:
                await self.hub.hand_over(self.viewer)
                self.say("write lock handed over")
            elif await self.hub.request_lock(self.viewer):
                self.say("you hold the write lock")
        except ConsoleError as exc:
            self.say(str(exc))

    def _who(self) -> str:
        attached = self.hub.status(self.viewer.target).attached
        return f"attached: {attached}" if attached else ""

    async def _act(self, call: Awaitable[object]) -> bool:
        """Run a Hub call; on failure, say why in one line (once, not per keystroke) and go on."""
        try:
            await call
        except ConsoleError as exc:
            text = str(exc)
            now = asyncio.get_running_loop().time()
            if text != self._last_refusal or now - self._last_refusal_at > REFUSAL_QUIET:
                self.say(text)
            self._last_refusal, self._last_refusal_at = text, now
            return False
        self._last_refusal = ""
        return True

    async def close(self) -> None:
        for task in self._pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

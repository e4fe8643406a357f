"""Raw passthrough to one console, with OpenSSH-style escapes after Enter.

Used by `console-tui attach` in the local terminal and by `ssh -t console@host NAME`: input bytes in,
terminal bytes out, every action through the Hub. The escapes:

    ~.  detach            ~b  BREAK             ~s KEY  SysRq KEY
    ~n  NMI (asks y/n)    ~r  reset (asks y/n)  ~f N    function key N (1-12, then Enter)
    ~w  write lock        ~?  help and menu     ~~      a literal ~
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable

from console_tui.core import keys
from console_tui.core.errors import ConsoleError
from console_tui.core.hub import Hub
from console_tui.core.session import Event, Viewer

ESCAPE = ord("~")

# The operator's own terminal answers the guest's questions too (cursor position, device
# attributes); the session's screen model already answered them, so those replies are dropped.
TERMINAL_REPLY = re.compile(rb"\x1b\[\d+;\d+R|\x1b\[[?>=][\d;]*c")

HELP = """\
console-tui escapes (type them after Enter):
  ~.  detach                 ~b  send BREAK
  ~s  then a key: SysRq      ~n  send NMI (asks)
  ~r  reset (asks)           ~f  then 1-12 and Enter: function key
  ~w  take or ask for the write lock
  ~?  this help              ~~  a literal ~
"""


class Passthrough:
    """Feeds keystrokes to the Hub, console output to the terminal, and acts on escapes."""

    def __init__(self, hub: Hub, viewer: Viewer, write_out: Callable[[bytes], None]) -> None:
        self.hub = hub
        self.viewer = viewer
        self.write_out = write_out
        self.done = asyncio.Event()
        self._line_start = True
        self._mode = "normal"  # normal | tilde | sysrq | fkey | confirm-nmi | confirm-reset
        self._digits = ""
        self._pending: list[asyncio.Task[None]] = []

    def say(self, text: str) -> None:
        """A line of our own, set apart from console output."""
        body = text.rstrip("\n").replace("\n", "\r\n")
        self.write_out(f"\r\n[console-tui] {body}\r\n".encode())

    async def pump_output(self) -> None:
        """Console output and session events to the terminal, until detached."""
        async for event in self.viewer.events():
            self._show(event)
        self.done.set()

    def _show(self, event: Event) -> None:
        if event.kind in ("output", "snapshot"):
            self.write_out(event.data)
        elif event.kind == "state":
            self.say(f"console {event.text}")
        elif event.kind == "lock":
            self.say(f"write lock: {event.text or 'free'}")
        elif event.kind in ("notice", "detached"):
            self.say(event.text)

    async def feed(self, data: bytes) -> None:
        """Keystrokes from the operator's terminal."""
        data = TERMINAL_REPLY.sub(b"", data)
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
            self._line_start = False
            if char in keys.SYSRQ_KEYS:
                meaning = keys.SYSRQ_KEYS[char]
                if await self._act(self.hub.sysrq(self.viewer, char)):
                    self.say(f"sent BREAK then SysRq {char} ({meaning})")
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
            self.say("SysRq key? (h for help; the guest's kernel.sysrq decides what acts)")
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
            self.say(HELP + self._who())
            self._line_start = True
        else:
            # Not an escape: send the ~ and the key as typed, as OpenSSH does.
            await self._act(self.hub.write(self.viewer, b"~" + bytes([byte])))
            self._line_start = byte in (0x0D, 0x0A)

    async def _lock(self) -> None:
        session = self.hub.session(self.viewer.target)
        try:
            if session is not None and session.lock_holder is self.viewer:
                await self.hub.hand_over(self.viewer)
                self.say("write lock handed over")
            elif await self.hub.request_lock(self.viewer):
                self.say("you hold the write lock")
        except ConsoleError as exc:
            self.say(str(exc))

    def _who(self) -> str:
        session = self.hub.session(self.viewer.target)
        if session is None:
            return ""
        return f"attached: {session.viewer_summary()}"

    async def _act(self, call: object) -> bool:
        """Run a Hub call; on failure, say why in one line and keep going."""
        try:
            await call  # type: ignore[misc]
        except ConsoleError as exc:
            self.say(str(exc))
            return False
        return True

    async def close(self) -> None:
        for task in self._pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

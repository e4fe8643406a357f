"""`rfc2217://host:port?baud=&data=&parity=&stop=&flow=`: a terminal server's serial port over
telnet with RFC 2217 COM port control (ser2net `telnet(rfc2217)`, commercial console servers).

On connect it offers COM-PORT-OPTION, sets the line the URI asks for and shows what the server
confirms. A server that does not speak RFC 2217 still gives a working telnet line, and says so.
BREAK is SET-CONTROL on, then off; when the server does not acknowledge it (ser2net in front of
another telnet server forwards only IAC BRK), BREAK is IAC BRK from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import replace

from console_tui.core.backings import BackingClosed, ConsoleURI
from console_tui.core.backings._telnet import BREAK, OUR_OPTIONS, TelnetCodec
from console_tui.core.backings.comport import (
    COM_PORT,
    CONTROL_BREAK_OFF,
    CONTROL_BREAK_ON,
    SERVER_OFFSET,
    SET_BAUDRATE,
    SET_CONTROL,
    check_baud,
    command,
    line_from_params,
)
from console_tui.core.backings.telnet import TelnetBacking
from console_tui.core.errors import NotPermittedError, UnreachableError

NEGOTIATE_WAIT = 2.0
"""Seconds a new connection waits for the server's answer to COM-PORT-OPTION."""
PORT_WAIT = 8.0
"""Seconds a new connection waits for the server's first COM-PORT reply: ser2net opens its port
when a client connects (seconds later when the port is another telnet server), and drops what
the client sends before that."""
SETTLE_WAIT = 1.0
"""Seconds a new connection waits for the server to confirm the line it set."""
ACK_WAIT = 3.0
"""Seconds a baud change waits for the server to confirm it."""
BREAK_SECONDS = 0.25
"""How long SET-CONTROL holds the line in BREAK; also how long its acknowledgement is awaited."""
NOT_RFC2217 = "not an RFC 2217 server: the line works as plain telnet, baud changes are unavailable"


class RFC2217Backing(TelnetBacking):
    """A telnet client that also sets the far serial port's line (RFC 2217)."""

    kind = "rfc2217"

    def __init__(self, uri: ConsoleURI, *, baud: int = 115200) -> None:
        super().__init__(uri, baud=int(uri.params.get("baud", baud)))
        self._asked = line_from_params(uri.params, self.baud)
        self.confirmed = self._asked
        """The line as the server last reported it (as asked, until it reports)."""
        self.com_port: bool | None = None
        """Whether the server speaks RFC 2217; None until the connection's negotiation ended."""
        self._pending: dict[int, int] = {}
        """Per command, how many were sent on this connection that the server has not answered."""
        self._replied = asyncio.Event()
        self._early = b""
        self._break_by_telnet = False
        self._heard = False
        self.wait_for_port = True
        """Whether `open` waits up to `PORT_WAIT` for the server to open its port (a quick look,
        such as `list`'s probe, does not)."""

    @property
    def line(self) -> str:
        """The line settings in words, for the status: confirmed or not, or why there are none."""
        if self.com_port is None:
            return ""
        if not self.com_port:
            return NOT_RFC2217
        text = self.confirmed.describe()
        if any(self._pending.values()):
            text += " (not confirmed by the server)"
        if self._break_by_telnet:
            text += "; BREAK by IAC BRK (the server does not confirm SET-CONTROL BREAK)"
        return text

    @property
    def baud_reason(self) -> str:
        """Why the baud rate cannot be changed now, in operator words; empty when it can."""
        if self.com_port is None:
            return "the line is not connected yet"
        return "" if self.com_port else NOT_RFC2217

    def _new_codec(self) -> TelnetCodec:
        return TelnetCodec(our_options=OUR_OPTIONS | {COM_PORT}, keep=frozenset({COM_PORT}))

    async def open(self) -> None:
        """Connect, offer COM-PORT-OPTION and, when the server takes it, set the line."""
        self.com_port = None
        self._pending.clear()
        self._heard = False
        self._early = b""
        await super().open()
        codec = self._telnet
        assert codec is not None
        try:
            await self._negotiate(codec)
        except BackingClosed as exc:
            await self.close()
            raise UnreachableError(
                "the server closed the connection while it was set up",
                where=self.uri.where,
                fix="check the terminal server's log: its port may be busy or misconfigured",
            ) from exc

    async def _negotiate(self, codec: TelnetCodec) -> None:
        """Offer COM-PORT-OPTION; when taken, set the line, wait for the server's first reply
        (its port is open) and give the others `SETTLE_WAIT` seconds, so the line is shown
        confirmed from the start. Console bytes that come meanwhile are kept for `read`."""
        early = bytearray()
        await self._send(codec.offer(COM_PORT))
        early += await self._read_while(lambda: COM_PORT not in codec.answered, NEGOTIATE_WAIT)
        self.com_port = COM_PORT in codec.answered and COM_PORT in codec.ours
        if self.com_port:
            self._asked = replace(self._asked, baud=self.baud)
            self.confirmed = self._asked
            await self._set(self._asked.commands(), *range(SET_BAUDRATE, SET_CONTROL + 1))
            if self.wait_for_port:
                early += await self._read_while(lambda: not self._heard, PORT_WAIT)
            early += await self._read_while(lambda: any(self._pending.values()), SETTLE_WAIT)
        self._early = bytes(early)

    async def _read_while(self, going: Callable[[], bool], seconds: float) -> bytes:
        """Read while `going()` holds, for at most `seconds`: the console bytes read."""
        data = bytearray()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while going():
                    data += await self._read_once()
        return bytes(data)

    async def read(self) -> bytes:
        if self._early:
            data, self._early = self._early, b""
            return data
        return await super().read()

    async def _set(self, commands: bytes, *sent: int) -> None:
        for cmd in sent:
            self._pending[cmd] = self._pending.get(cmd, 0) + 1
        await self._send(commands)

    def _subnegotiated(self, codec: TelnetCodec) -> None:
        """Note the server's replies: the value it now uses for each command."""
        for _, reply in codec.messages:
            payload = bytes((COM_PORT,)) + reply
            if len(payload) < 2 or payload[1] < SERVER_OFFSET:
                continue
            cmd = payload[1] - SERVER_OFFSET
            self._pending[cmd] = max(self._pending.get(cmd, 0) - 1, 0)
            if cmd != SET_CONTROL or payload[2:] not in (
                bytes((CONTROL_BREAK_ON,)),
                bytes((CONTROL_BREAK_OFF,)),
            ):
                self.confirmed = self.confirmed.with_reply(cmd, payload[2:])
        codec.messages.clear()
        self._heard = True
        self._replied.set()

    async def _answered(self, cmd: int, seconds: float) -> bool:
        """Wait up to `seconds` until the server answered every `cmd` sent so far."""
        try:
            async with asyncio.timeout(seconds):
                while self._pending.get(cmd, 0):
                    self._replied.clear()
                    await self._replied.wait()
        except TimeoutError:
            return False
        return True

    async def set_baud(self, baud: int) -> str:
        """Ask the server for `baud` and wait for its confirmation; the line in words after."""
        if self.baud_reason:
            raise NotPermittedError(
                "cannot change the baud rate", where=self.uri.where, fix=self.baud_reason
            )
        check_baud(baud)
        self.baud = baud
        self._asked = replace(self._asked, baud=baud)
        await self._set(command(SET_BAUDRATE, baud.to_bytes(4, "big")), SET_BAUDRATE)
        await self._answered(SET_BAUDRATE, ACK_WAIT)
        return self.line

    async def send_break(self) -> None:
        """SET-CONTROL BREAK on, then off; IAC BRK where the server does not confirm it."""
        if not self.com_port or self._break_by_telnet:
            await super().send_break()
            return
        await self._set(command(SET_CONTROL, bytes((CONTROL_BREAK_ON,))), SET_CONTROL)
        confirmed = await self._answered(SET_CONTROL, BREAK_SECONDS)
        if confirmed:
            await asyncio.sleep(BREAK_SECONDS)
        await self._set(command(SET_CONTROL, bytes((CONTROL_BREAK_OFF,))), SET_CONTROL)
        if not confirmed:
            self._break_by_telnet = True
            await self._send(BREAK)

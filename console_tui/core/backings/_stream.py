"""The shared body of every backing that is an asyncio stream pair: sockets, serial ports, ptys.

A subclass says how to connect (`_connect`) and why it has no BREAK; this base owns the connect
timeout, error mapping, optional telnet framing, EOF as `BackingClosed`, and an idempotent close.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from console_tui.core.backings import (
    BackingClosed,
    ConsoleURI,
    break_refused,
    unreachable_from_oserror,
)
from console_tui.core.backings._telnet import BREAK, TelnetCodec
from console_tui.core.errors import UnreachableError

CONNECT_TIMEOUT = 5.0
READ_SIZE = 64 * 1024
"""Up to this much per read: a flood costs a sixteenth of the reads (and transcript writes, feeds
and viewer events) that 4 KB reads did, and a quiet line still returns each byte at once."""
YIELD_EVERY = READ_SIZE
"""Bytes read in a row, without waiting for more, before a read lets the event loop run other
work: a console that floods its line (output or telnet commands) holds up no other console."""
CLOSE_TIMEOUT = 1.0
ANSWER_BACKLOG = 64 * 1024
"""Bytes of telnet answers left unsent, past which further answers are dropped: a server that
floods option requests and never reads cannot make us hold answers without end."""


class StreamBacking:
    """A console line carried by an asyncio StreamReader/StreamWriter pair."""

    kind: ClassVar[str]
    # Errors name devices (ls /dev/tty*, fuser) rather than sockets.
    device: ClassVar[bool] = False
    # Why BREAK cannot travel on this line when it has no telnet framing.
    no_break_reason: ClassVar[str] = ""
    # How long `open` waits for the line; None waits for as long as it takes (a listener).
    connect_timeout: ClassVar[float | None] = CONNECT_TIMEOUT

    def __init__(self, uri: ConsoleURI, *, baud: int = 115200) -> None:
        self.uri = uri
        self.baud = baud
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._telnet: TelnetCodec | None = None
        self._closed = False
        self._unyielded = 0

    def _telnet_framing(self) -> bool:
        """Whether this line speaks telnet (RFC 854) rather than raw bytes."""
        return False

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise NotImplementedError

    @property
    def can_break(self) -> bool:
        return not self.break_reason

    @property
    def break_reason(self) -> str:
        return "" if self._telnet_framing() else self.no_break_reason

    async def open(self) -> None:
        """Connect within `connect_timeout` seconds or raise `UnreachableError`.

        Opening again (a reconnect) first closes what is left of the previous connection.
        """
        if self._writer is not None:
            await self.close()
        try:
            async with asyncio.timeout(self.connect_timeout):
                self._reader, self._writer = await self._connect()
        except TimeoutError as exc:
            if exc.errno is not None:
                raise unreachable_from_oserror(exc, self.uri, device=self.device) from exc
            raise UnreachableError(
                f"no answer within {CONNECT_TIMEOUT:g} s",
                where=self.uri.where,
                fix="check the address, the network path, and that the far end is up",
            ) from None
        except OSError as exc:
            raise unreachable_from_oserror(exc, self.uri, device=self.device) from exc
        self._telnet = self._new_codec() if self._telnet_framing() else None
        self._closed = False

    def _stream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._closed or self._reader is None or self._writer is None:
            raise BackingClosed(f"{self.uri.where}: the line is not open")
        return self._reader, self._writer

    async def read(self) -> bytes:
        """At least one console byte; telnet commands are answered and left out."""
        while True:
            if data := await self._read_once():
                return data

    def _new_codec(self) -> TelnetCodec:
        """The telnet codec of a new connection (a subclass may accept more options)."""
        return TelnetCodec()

    def _subnegotiated(self, codec: TelnetCodec) -> None:
        """The codec kept subnegotiations (`codec.messages`): a subclass reads them."""

    async def _read_once(self) -> bytes:
        """One read from the line: its console bytes, none when it held only telnet commands.

        Every `YIELD_EVERY` bytes, commands or not, it lets the event loop run other work first."""
        reader, writer = self._stream()
        if self._unyielded >= YIELD_EVERY:
            self._unyielded = 0
            await asyncio.sleep(0)
        try:
            raw = await reader.read(READ_SIZE)
        except OSError as exc:
            raise BackingClosed(f"{self.uri.where}: {exc}") from exc
        if not raw:
            raise BackingClosed(f"{self.uri.where}: the far end closed the line")
        self._unyielded += len(raw)
        if self._telnet is None:
            return raw
        data, answers = self._telnet.decode(raw)
        if answers and writer.transport.get_write_buffer_size() < ANSWER_BACKLOG:
            writer.write(answers)
        if self._telnet.messages:
            self._subnegotiated(self._telnet)
        return data

    async def write(self, data: bytes) -> None:
        if self._telnet is not None:
            data = self._telnet.encode(data)
        await self._send(data)

    async def _send(self, data: bytes) -> None:
        """Write bytes as they are and wait until the transport takes them."""
        _, writer = self._stream()
        if writer.is_closing():
            raise BackingClosed(f"{self.uri.where}: the line is closed")
        try:
            writer.write(data)
            await writer.drain()
        except OSError as exc:
            raise BackingClosed(f"{self.uri.where}: {exc}") from exc

    async def send_break(self) -> None:
        """IAC BRK on a telnet line; anything else refuses with the reason."""
        if not self.can_break:
            raise break_refused(self)
        await self._send(BREAK)

    async def close(self) -> None:
        """Close the line; safe to call more than once and on a line that never opened."""
        if self._closed:
            return
        self._closed = True
        writer = self._writer
        if writer is None:
            return
        writer.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await writer.wait_closed()
        except TimeoutError:  # output stuck behind flow control: drop it
            writer.transport.abort()
        except OSError:  # the line was already gone
            pass

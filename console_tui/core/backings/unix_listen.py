"""`unix+listen:///path.sock`: we listen on a Unix socket and the VM end connects, as QEMU does with
`-chardev socket,path=...,server=off,reconnect=N` (vSphere: a named pipe whose far end is a client).

Until the VM connects the session says "waiting for the VM to connect"; a VM that reconnects is
taken back on the same socket. Raw by default; `?telnet=1` for telnet framing, and then BREAK
travels as IAC BRK. The listening itself is `_listener.Listener`'s.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from console_tui.core.backings import ConsoleURI, _listener
from console_tui.core.backings._stream import StreamBacking


class UnixListenBacking(StreamBacking):
    """A Unix socket we listen on; the line is the VM's connection in."""

    kind = "unix+listen"
    connect_timeout: ClassVar[float | None] = None
    no_break_reason = (
        "a raw socket carries no BREAK; use ?telnet=1 if the VM end speaks telnet, "
        "or a control backing (SysRq then goes through its keyboard)"
    )

    def __init__(self, uri: ConsoleURI, *, baud: int = 115200) -> None:
        super().__init__(uri, baud=baud)
        self._listener: _listener.Listener | None = None

    @property
    def waiting_words(self) -> str:
        """What the session says while no VM is connected."""
        return f"waiting for the VM to connect to {self.uri.path}"

    def _telnet_framing(self) -> bool:
        return self.uri.flag("telnet")

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._listener is None:
            path = self.uri.path
            self._listener = await _listener.shared(path, _listener.unix_server(path))
        return await self._listener.accept()

    async def close(self) -> None:
        """Drop the VM's connection; the socket stays a moment for the session's next backing."""
        await self._let_go(linger=True)

    async def shut(self) -> None:
        """Drop the connection and stop listening now: the session is closing for good."""
        await self._let_go(linger=False)
        _listener.stop_unheld(self.uri.path)

    async def _let_go(self, *, linger: bool) -> None:
        await super().close()
        if self._listener is not None:
            self._listener.release(linger=linger)
            self._listener = None

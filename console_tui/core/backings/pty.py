"""`pty:///dev/pts/N`: the slave end of a pseudo-terminal, such as QEMU's `-serial pty` or socat's.

The slave is opened without becoming our controlling terminal and set raw, so bytes pass unchanged.
A pty has no serial line, so it cannot carry a BREAK.
"""

from __future__ import annotations

import asyncio
import errno
import os
import tty

from console_tui.core.backings import ConsoleURI
from console_tui.core.backings._stream import StreamBacking


class PtyBacking(StreamBacking):
    """A pseudo-terminal slave, read and written raw through two pipe transports."""

    kind = "pty"
    device = True
    no_break_reason = (
        "a pseudo-terminal has no serial line to hold in BREAK; "
        "use a socket with telnet framing or a control backing"
    )

    def __init__(self, uri: ConsoleURI, *, baud: int = 115200) -> None:
        super().__init__(uri, baud=baud)
        self._read_transport: asyncio.ReadTransport | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open the slave raw and non-blocking; reading and writing each get a descriptor."""
        path = self.uri.path
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            if not os.isatty(fd):
                raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY), path)
            tty.setraw(fd)
            write_fd = os.dup(fd)
        except BaseException:
            os.close(fd)
            raise
        read_file = os.fdopen(fd, "rb", buffering=0)
        write_file = os.fdopen(write_fd, "wb", buffering=0)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        try:
            self._read_transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), read_file
            )
            # The write side's protocol only needs flow control and a close waiter.
            transport, protocol = await loop.connect_write_pipe(
                lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()), write_file
            )
        except BaseException:
            read_file.close()
            write_file.close()
            raise
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    async def close(self) -> None:
        await super().close()
        if self._read_transport is not None:
            self._read_transport.close()
            self._read_transport = None

"""`unix:///path.sock`: we connect to a Unix socket, such as a QEMU socket chardev.

Raw by default; `?telnet=1` speaks telnet framing, for a chardev started with `telnet=on`, and then
BREAK travels as IAC BRK.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat

from console_tui.core.backings._stream import StreamBacking


class UnixBacking(StreamBacking):
    """A client of a Unix-domain stream socket."""

    kind = "unix"
    no_break_reason = (
        "a raw socket carries no BREAK; use ?telnet=1 with QEMU telnet=on, or a control backing"
    )

    def _telnet_framing(self) -> bool:
        return self.uri.flag("telnet")

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        path = self.uri.path
        mode = os.stat(path).st_mode
        if not stat.S_ISSOCK(mode):
            raise OSError(errno.ENOTSOCK, os.strerror(errno.ENOTSOCK), path)
        return await asyncio.open_unix_connection(path)

"""`tcp://host:port`: raw TCP, such as a QEMU `-serial tcp:` chardev or ser2net in `raw` mode."""

from __future__ import annotations

import asyncio

from console_tui.core.backings._stream import StreamBacking


class TCPBacking(StreamBacking):
    """A raw TCP client: every byte is console data, both ways."""

    kind = "tcp"
    no_break_reason = (
        "raw TCP is a plain byte stream with no signal for BREAK; "
        "use telnet:// if the far end speaks telnet, or a control backing"
    )

    def _telnet_framing(self) -> bool:
        return self.uri.flag("telnet")

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.uri.host, self.uri.port)

"""`telnet://host:port`: telnet (RFC 854) to a console server, QEMU `telnet=on` or ser2net `telnet`.

Option negotiation is answered minimally and stripped from the data (`_telnet.TelnetCodec`);
BREAK is IAC BRK (0xFF 0xF3), sent raw.
"""

from __future__ import annotations

from console_tui.core.backings.tcp import TCPBacking


class TelnetBacking(TCPBacking):
    """A telnet client over TCP."""

    kind = "telnet"

    def _telnet_framing(self) -> bool:
        return True

"""`listen://HOST:PORT`: a console the VM dials into, through the concentrator (core/listener.py).

`?uuid=` or `?vm=` take the VM that tells that UUID or name over VMware's extension (vSPC),
`?peer=ADDR` the connection from that address; with none of them the target has the port to itself.
Telnet where the VM negotiates it (then BREAK is IAC BRK), raw otherwise (no BREAK).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from console_tui.core import listener
from console_tui.core.backings import BackingClosed, ConsoleURI, break_refused
from console_tui.core.backings._telnet import BREAK

RAW_NO_BREAK = (
    "the VM dials in raw (QEMU as a socket client ignores telnet=on), and a raw line carries no "
    'BREAK; send SysRq through a control backing (control = "qmp:///path")'
)


class InboundBacking:
    """A target's end of the concentrator: waits for its VM to dial in, then carries its bytes."""

    kind: ClassVar[str] = "listen"

    def __init__(self, uri: ConsoleURI, *, baud: int = 115200) -> None:
        self.uri = uri
        self.selector = listener.Selector.from_uri(uri)
        self.on_mark: Callable[[str], None] | None = None
        self._link: listener.Link | None = None

    @property
    def waiting(self) -> str:
        """What the session says while no VM is connected; empty when one waits for it."""
        if listener.parked_for(self.uri.host, self.uri.port, self.selector):
            return ""
        return (
            f"waiting for the VM to connect ({self.selector.describe()} on "
            f"{self.uri.host}:{self.uri.port})"
        )

    def _line(self) -> listener.InboundLine | None:
        return self._link.line if self._link is not None else None

    @property
    def can_break(self) -> bool:
        return not self.break_reason

    @property
    def break_reason(self) -> str:
        line = self._line()
        if line is None:
            return "no VM is connected yet; whether BREAK can travel depends on how it dials in"
        return "" if line.codec is not None else RAW_NO_BREAK

    async def open(self) -> None:
        """Listen (if nobody here does yet) and wait for the VM: this returns when it dialled in."""
        if self._link is not None:
            await self.close()
        concentrator = await listener.concentrator(self.uri.host, self.uri.port)
        link = concentrator.link(self.selector)
        link.on_mark = self.on_mark
        self._link = link
        line = await link.wait_line()
        if self.on_mark is not None:
            framing = "VMware vSPC telnet" if line.vspc else "telnet" if line.codec else "raw"
            if line.proxy:
                framing += f", proxy {line.proxy}"
            self.on_mark(f"{line.label} dialled in ({framing})")

    def _live(self) -> listener.Link:
        if self._link is None or self._link.line is None:
            raise BackingClosed(f"{self.uri.where}: no VM is connected")
        return self._link

    async def read(self) -> bytes:
        return await self._live().read()

    async def write(self, data: bytes) -> None:
        await self._live().write(data)

    async def send_break(self) -> None:
        """IAC BRK on a telnet line; a raw line refuses with the reason."""
        if not self.can_break:
            raise break_refused(self)
        line = self._live().line
        assert line is not None
        line.send(BREAK)

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.close()

"""`serial:///dev/ttyS0?baud=115200`: a serial port (pyserial-asyncio) with a real line BREAK.

The port is opened exclusively, so a port another program holds fails with "busy" rather than two
programs splitting its bytes. A pty opened as a serial port works for data but has no line BREAK.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat

import serial
import serial_asyncio

from console_tui.core.backings import BackingClosed, ConsoleURI, break_refused
from console_tui.core.backings._stream import StreamBacking

BREAK_SECONDS = 0.25
# Linux gives pseudo-terminal slaves (/dev/pts/N) these device major numbers.
_PTY_SLAVE_MAJORS = range(136, 144)


def is_pty(path: str) -> bool:
    """Whether `path` (or what a link there points at) is a pseudo-terminal slave."""
    real = os.path.realpath(path)
    if real.startswith("/dev/pts/"):
        return True
    try:
        st = os.stat(real)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) in _PTY_SLAVE_MAJORS


class SerialBacking(StreamBacking):
    """A serial port at the URI's `baud`, else the target's."""

    kind = "serial"
    device = True

    def __init__(self, uri: ConsoleURI, *, baud: int = 115200) -> None:
        super().__init__(uri, baud=int(uri.params.get("baud", baud)))

    @property
    def break_reason(self) -> str:
        if is_pty(self.uri.path):
            return (
                f"{self.uri.path} is a pseudo-terminal, which has no serial line to hold in BREAK; "
                "use a socket chardev with telnet framing, a real port, or a control backing"
            )
        return ""

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        path = self.uri.path
        if not stat.S_ISCHR(os.stat(path).st_mode):
            raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY), path)
        try:
            return await serial_asyncio.open_serial_connection(
                loop=asyncio.get_running_loop(), url=path, baudrate=self.baud, exclusive=True
            )
        except serial.SerialException as exc:
            if exc.errno is None:  # a character device that takes no terminal settings
                raise OSError(errno.ENOTTY, str(exc), path) from exc
            raise

    async def send_break(self) -> None:
        """Hold the line in BREAK for `BREAK_SECONDS`, after what was written has gone out."""
        if not self.can_break:
            raise break_refused(self)
        _, writer = self._stream()
        port = writer.transport.get_extra_info("serial")
        try:
            await writer.drain()
            port.break_condition = True
            try:
                await asyncio.sleep(BREAK_SECONDS)
            finally:
                port.break_condition = False
        except OSError as exc:
            raise BackingClosed(f"{self.uri.where}: {exc}") from exc

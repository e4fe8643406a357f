"""`file:///var/log/vm.log`: a read-only follow of a VM's output file (QEMU `-serial file:PATH`,
vSphere "output to file").

Like `tail -F`: the file is read from its start (or its last `START_MAX` bytes) and then followed.
A rotation that renames the file away (logrotate's `create`) is read to its end before the new
file at the path is read from its start; a truncation in place (`copytruncate`) is read again
from the start. So nothing is read twice and nothing is skipped. The file going away is waited
out, never a disconnect, so a reconnect cannot replay it. Nothing can be sent: every write
action is refused with `read_only_reason`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import ClassVar

from console_tui.core.backings import BackingClosed, ConsoleURI, unreachable_from_oserror
from console_tui.core.errors import NotPermittedError

POLL = 0.2
"""Seconds between looks at a file with nothing new (there is no portable file-change event)."""
READ_SIZE = 64 * 1024
START_MAX = 1 << 20
"""At most this many of the file's last bytes are read when the follow starts."""


class FileBacking:
    """Follows an output file; takes no input."""

    kind: ClassVar[str] = "file"
    read_only_reason: ClassVar[str] = (
        "an output file is read-only: nothing typed here can reach the VM; for input give the "
        "VM a socket or telnet serial port (unix://, telnet://) beside the file"
    )

    def __init__(self, uri: ConsoleURI, *, baud: int = 115200) -> None:
        self.uri = uri
        self._fd: int | None = None
        self._pos = 0

    @property
    def can_break(self) -> bool:
        return False

    @property
    def break_reason(self) -> str:
        return self.read_only_reason

    async def open(self) -> None:
        """Open the file and start at its beginning (or its last `START_MAX` bytes)."""
        await self.close()
        try:
            fd = os.open(self.uri.path, os.O_RDONLY | os.O_NOCTTY)
        except OSError as exc:
            error = unreachable_from_oserror(exc, self.uri)
            if isinstance(exc, FileNotFoundError):
                error.fix = "check the path; the VM creates its output file when it starts"
            raise error from exc
        self._fd = fd
        self._pos = max(0, os.fstat(fd).st_size - START_MAX)

    async def read(self) -> bytes:
        """The next bytes of the file, waiting for them as long as it takes."""
        while True:
            fd = self._fd
            if fd is None:
                raise BackingClosed(f"{self.uri.where}: the file is not open")
            try:
                data = os.pread(fd, READ_SIZE, self._pos)
            except OSError as exc:
                raise BackingClosed(f"{self.uri.where}: {exc}") from exc
            if data:
                self._pos += len(data)
                return data
            self._follow(fd)
            if self._fd == fd:
                await asyncio.sleep(POLL)

    def _follow(self, fd: int) -> None:
        """At the end of what is open: switch to a new file at the path (the old one is read to
        its end), or start again at a truncated file's beginning."""
        try:
            now = os.stat(self.uri.path)
        except OSError:
            return  # rotated away and not yet created again: keep reading the old one
        held = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
            try:
                new = os.open(self.uri.path, os.O_RDONLY | os.O_NOCTTY)
            except OSError:
                return
            os.close(fd)
            self._fd, self._pos = new, 0
        elif held.st_size < self._pos:
            self._pos = 0

    async def write(self, data: bytes) -> None:
        raise NotPermittedError(
            "cannot send input", where=self.uri.where, fix=self.read_only_reason
        )

    async def send_break(self) -> None:
        raise NotPermittedError(
            "cannot send BREAK", where=self.uri.where, fix=self.read_only_reason
        )

    async def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

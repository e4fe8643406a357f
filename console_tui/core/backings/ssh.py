"""`ssh://USER@HOST:PORT/NAME?remote=R`: target NAME of another `console-tui serve`.

The line is the remote's `stream NAME` command on the one SSH connection to that remote
(core/remotes.py), so every session to one remote shares a connection. The remote decides what
this login may do: as a viewer there, writes are refused here with its words. A BREAK travels
as an SSH break request, which the remote turns into its own target's BREAK.
"""

from __future__ import annotations

import contextlib
from typing import ClassVar

import asyncssh

from console_tui.core import remotes
from console_tui.core.backings import BackingClosed, ConsoleURI
from console_tui.core.errors import NotPermittedError, UnreachableError

READ_SIZE = 1 << 16


class SSHChainBacking:
    """A console held by another console-tui, reached through its `stream` command."""

    kind: ClassVar[str] = "ssh"

    def __init__(self, uri: ConsoleURI, *, baud: int = 115200) -> None:
        self.uri = uri
        self.name = uri.path.lstrip("/")
        self.remote = uri.params.get("remote", "")
        self.role = ""
        self._writer: asyncssh.SSHWriter[bytes] | None = None
        self._reader: asyncssh.SSHReader[bytes] | None = None

    @property
    def can_break(self) -> bool:
        return self.role != "viewer"

    @property
    def break_reason(self) -> str:
        return "" if self.can_break else self._watch_only()

    async def open(self) -> None:
        link = remotes.find(self.remote)
        if link is None:
            raise UnreachableError(
                f"no [[remote]] named {self.remote!r} in this config",
                where=self.uri.text,
                fix="add the [[remote]] entry, or list again to refresh the targets",
            )
        self._writer, self._reader, header = await link.open_stream(self.name)
        self.role = str(header.get("role", ""))

    async def read(self) -> bytes:
        if self._reader is None:
            raise BackingClosed("not open")
        try:
            data = await self._reader.read(READ_SIZE)
        except (OSError, asyncssh.Error) as exc:
            raise BackingClosed(f"the remote {self.remote} dropped the line: {exc}") from None
        if not data:
            raise BackingClosed(f"the remote {self.remote} closed the line")
        return data

    async def write(self, data: bytes) -> None:
        if self.role == "viewer":
            raise NotPermittedError(self._watch_only(), where=f"remote {self.remote}")
        if self._writer is None:
            raise BackingClosed("not open")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (OSError, asyncssh.Error) as exc:
            raise BackingClosed(f"the remote {self.remote} dropped the line: {exc}") from None

    async def send_break(self) -> None:
        if self.role == "viewer":
            raise NotPermittedError(self._watch_only(), where=f"remote {self.remote}")
        channel = self._writer.channel if self._writer is not None else None
        if isinstance(channel, asyncssh.SSHClientChannel):
            channel.send_break(500)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            with contextlib.suppress(OSError, asyncssh.Error):
                writer.channel.close()

    def _watch_only(self) -> str:
        return (
            f"{self.remote} lets this login only watch {self.name} (viewer there); "
            "ask its admin for the operator role"
        )

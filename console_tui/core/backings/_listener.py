"""The listening side of a console line: we listen and the VM end connects in.

A `Listener` owns one listening socket and hands its connections to whichever backing asks with
`accept`. A VM that connects again (it restarted, or its old connection is half dead) replaces
the connection a backing holds: that one is closed, its reader sees EOF, and the session takes the
new one. Listeners are shared by address. Released between two connections of a line, one
nobody holds stays for `LINGER` seconds, because a session makes a fresh backing for each
reconnect and a VM that dials straight back in must find the socket there; released for good
(the session closes), it stops listening at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import stat
from collections.abc import Awaitable, Callable

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
ServerFactory = Callable[
    [Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]],
    Awaitable[asyncio.Server],
]

LINGER = 2.0
"""Seconds a listener released between two connections stays open for the next holder."""

_shared: dict[str, Listener] = {}


class Listener:
    """One listening socket; the newest connection in waits for a backing to `accept` it."""

    def __init__(self, place: str, serve: ServerFactory) -> None:
        self.place = place
        self._serve = serve
        self._server: asyncio.Server | None = None
        self._waiting: asyncio.Queue[Connection] = asyncio.Queue()
        self._active: asyncio.StreamWriter | None = None
        self._holders = 0
        self._linger: asyncio.TimerHandle | None = None
        self.accepted = 0
        """Connections taken in since the listener started (a figure for messages and tests)."""

    async def start(self) -> None:
        self._server = await self._serve(self._connected)

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A connection came in: it waits alone; an older waiting or held one is let go."""
        self.accepted += 1
        while not self._waiting.empty():
            _, old = self._waiting.get_nowait()
            old.close()
        if self._active is not None and not self._active.is_closing():
            self._active.close()
        self._waiting.put_nowait((reader, writer))

    async def accept(self) -> Connection:
        """The next connection from the VM end, waiting as long as it takes."""
        while True:
            reader, writer = await self._waiting.get()
            if not writer.is_closing():
                self._active = writer
                return reader, writer

    def hold(self) -> None:
        self._holders += 1
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def release(self, *, linger: bool) -> None:
        """One holder less; with none left, stop listening: at once, or after `LINGER` seconds
        when the line is only between two connections."""
        self._holders -= 1
        if self._holders > 0:
            return
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if linger:
            self._linger = asyncio.get_running_loop().call_later(LINGER, self._close_unheld)
        else:
            self.close()

    def _close_unheld(self) -> None:
        self._linger = None
        if self._holders <= 0:
            self.close()

    def close(self) -> None:
        """Stop listening and drop what waits; a Unix socket's file is removed."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if _shared.get(self.place) is self:
            del _shared[self.place]
        while not self._waiting.empty():
            self._waiting.get_nowait()[1].close()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.place.startswith("/"):
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.stat(self.place).st_mode):
                    os.unlink(self.place)


async def shared(place: str, serve: ServerFactory) -> Listener:
    """The listener at `place`, started by `serve` if none is; the caller holds it until
    `release`."""
    listener = _shared.get(place)
    if listener is None:
        listener = Listener(place, serve)
        await listener.start()
        _shared[place] = listener
    listener.hold()
    return listener


def stop_unheld(place: str) -> None:
    """Stop the listener at `place` now if nobody holds it (it may be lingering)."""
    listener = _shared.get(place)
    if listener is not None and listener._holders <= 0:
        listener.close()


def unix_server(path: str) -> ServerFactory:
    """A factory for a Unix socket server at `path` (mode 0600), after removing a stale socket
    there; an error when another program listens on it or the path is not a socket."""

    async def serve(
        callback: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    ) -> asyncio.Server:
        _clear_stale(path)
        old = os.umask(0o177)
        try:
            return await asyncio.start_unix_server(callback, path)
        finally:
            os.umask(old)

    return serve


def _clear_stale(path: str) -> None:
    """Remove a socket file no one listens on; refuse a live one or a file that is no socket."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EEXIST, "exists and is not a socket", path)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)
        return
    except OSError:
        return
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, "another program listens on this socket", path)

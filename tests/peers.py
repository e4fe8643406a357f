"""Real peers for the backing tests: socat listeners and pty pairs, and a recording telnet server.

Every peer binds to 127.0.0.1 port 0 or a temporary path and says when it is ready, so tests wait
for the peer rather than sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tty
from collections.abc import AsyncIterator, Callable
from pathlib import Path

READY_TIMEOUT = 5.0
IO_TIMEOUT = 5.0


async def _start_socat(*addresses: str, ready: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start `socat -d -d ADDRESS...` and wait for the notice `ready`; return it and its log."""
    process = await asyncio.create_subprocess_exec(
        "socat",
        "-d",
        "-d",
        *addresses,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    log = ""
    async with asyncio.timeout(READY_TIMEOUT):
        while ready not in log:
            line = await process.stderr.readline()
            if not line:
                raise RuntimeError(
                    f"socat {' '.join(addresses)} exited before it was ready:\n{log}"
                )
            log += line.decode(errors="replace")
    return process, log


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
    await process.wait()


class SocatListener:
    """socat listening on a TCP port or Unix socket, its connection joined to our pipes."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    async def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def receive(self, size: int) -> bytes:
        """Exactly `size` bytes that the client sent."""
        assert self.process.stdout is not None
        async with asyncio.timeout(IO_TIMEOUT):
            return await self.process.stdout.readexactly(size)

    def end_input(self) -> None:
        """Close socat's input: it shuts the connection down, as a VM that went away."""
        assert self.process.stdin is not None
        self.process.stdin.close()


@contextlib.asynccontextmanager
async def socat_listener(address: str) -> AsyncIterator[SocatListener]:
    """socat on `TCP-LISTEN:0,bind=127.0.0.1` or `UNIX-LISTEN:PATH`, serving one client."""
    process, log = await _start_socat(address, "STDIO", ready="listening on")
    match = re.search(r"listening on AF=\d+ [\d.]+:(\d+)", log)
    try:
        yield SocatListener(process, int(match.group(1)) if match else 0)
    finally:
        await _stop(process)


@contextlib.asynccontextmanager
async def socat_pty_pair(folder: Path) -> AsyncIterator[tuple[str, str]]:
    """Two raw ptys joined back to back; yields the links to their slaves (near end, far end)."""
    near, far = folder / "tty-near", folder / "tty-far"
    process, _ = await _start_socat(
        f"pty,raw,echo=0,link={near}",
        f"pty,raw,echo=0,link={far}",
        ready="starting data transfer loop",
    )
    try:
        yield str(near), str(far)
    finally:
        await _stop(process)


class TtyEnd:
    """The far end of a pty pair, held raw the way a guest's serial driver would hold it."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    async def receive(self, size: int) -> bytes:
        """Exactly `size` bytes from the near end."""
        loop = asyncio.get_running_loop()
        data = b""
        async with asyncio.timeout(IO_TIMEOUT):
            while len(data) < size:
                try:
                    data += os.read(self.fd, size - len(data))
                except BlockingIOError:
                    readable = loop.create_future()
                    loop.add_reader(self.fd, readable.set_result, None)
                    try:
                        await readable
                    finally:
                        loop.remove_reader(self.fd)
        return data

    def close(self) -> None:
        os.close(self.fd)


class TelnetPeer:
    """A tiny telnet-framing server: it opens with `greeting`, records every raw byte its client
    sends, and sends raw bytes on demand, so a test can see exactly what went over the wire."""

    def __init__(self, greeting: bytes = b"") -> None:
        self.greeting = greeting
        self.received = bytearray()
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._client: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self.port = 0

    async def start_tcp(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def start_unix(self, path: str) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._client = writer
        writer.write(self.greeting)
        await writer.drain()
        self._connected.set()
        while data := await reader.read(4096):
            async with self._changed:
                self.received += data
                self._changed.notify_all()

    async def send(self, raw: bytes) -> None:
        async with asyncio.timeout(IO_TIMEOUT):
            await self._connected.wait()
        assert self._client is not None
        self._client.write(raw)
        await self._client.drain()

    async def wait_for(self, done: Callable[[bytes], bool]) -> bytes:
        """Wait until what the client sent so far satisfies `done`; return all of it."""
        async with asyncio.timeout(IO_TIMEOUT), self._changed:
            await self._changed.wait_for(lambda: done(bytes(self.received)))
            return bytes(self.received)

    async def wait_received(self, size: int) -> bytes:
        return await self.wait_for(lambda data: len(data) >= size)

    async def hang_up(self) -> None:
        """Close the client's connection, as QEMU does when the VM stops."""
        if self._client is not None:
            self._client.close()
            with contextlib.suppress(OSError):
                await self._client.wait_closed()

    async def close(self) -> None:
        await self.hang_up()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

"""Real peers for the tests: the far ends of consoles, and a client for the demo guest's line.

In this process (asyncio): `ConsolePeer`, a console on a Unix socket or TCP port that greets,
records raw bytes, answers and can go away and come back; `OneClientPeer`, one client at a time as
QEMU's socket chardev; `SacPeer`, Windows SAC's replies for a ConsolePeer. Real programs: socat
listeners and pty pairs; `EchoConsole` (socat and a pty that echoes, for tests that fork and so
run no event loop beside the code under test); `quiet_console` (a console in its own process).
`TelnetLine` is a telnet client for a QEMU guest's serial socket.

Every peer binds to 127.0.0.1 port 0 or a path the test gives and is ready when the test gets it,
so tests wait for the peer rather than sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import tty
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pexpect
from conftest import wait_for

READY_TIMEOUT = 5.0
IO_TIMEOUT = 5.0

# Telnet (RFC 854) commands, and the options the tests speak of.
IAC, DONT, DO, WONT, WILL, SB, BRK, SE = 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0xFA, 0xF3, 0xF0
BINARY, ECHO, SGA, STATUS, TERMINAL_TYPE = 0x00, 0x01, 0x03, 0x05, 0x18

Greeting = bytes | Callable[[int], bytes]
"""What a console sends each new client: bytes, or a function of the connection's number (from 1)
for a greeting that tells connections apart."""

Reply = Callable[[bytes], bytes]
"""What a console answers to the bytes a client sent (b"" for nothing)."""


def echo(data: bytes) -> bytes:
    """A tty's echo: every byte back, CR as CR LF."""
    return data.replace(b"\r", b"\r\n")


def _greeting(greeting: Greeting, connection: int) -> bytes:
    return greeting(connection) if callable(greeting) else greeting


class ConsolePeer:
    """A console's far end in this process: it listens on the Unix socket `path`, or on 127.0.0.1
    port 0 without one (`port` holds the real port once started). It greets each client, records
    every byte clients send in `received`, and answers with `reply(data)` when given one.

    The test speaks as the guest (`send`), hangs up on clients (`hang_up`), and can `stop` and
    `start` it again on the same address, as a host that reboots. Use it with `async with`.
    """

    def __init__(
        self, path: Path | None = None, greeting: Greeting = b"", reply: Reply | None = None
    ) -> None:
        self.path = path
        self.port = 0
        self.greeting = greeting
        self.reply = reply
        self.received = bytearray()
        self.connections = 0
        self.clients: list[asyncio.StreamWriter] = []
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ConsolePeer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self.path is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
            self.port = self._server.sockets[0].getsockname()[1]
        else:
            self._server = await asyncio.start_unix_server(self._serve, str(self.path))

    async def stop(self) -> None:
        """Stop listening and hang up on every client; a Unix socket file goes too."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self.hang_up()
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def hang_up(self) -> None:
        """Close every client's connection, as a console server that lost its line, or QEMU
        when the VM stops."""
        clients, self.clients = self.clients, []
        for writer in clients:
            writer.close()
        for writer in clients:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def send(self, data: bytes) -> None:
        """Speak as the guest to every client, waiting for one (a connect can complete before
        the accept)."""
        await self._until(lambda: bool(self.clients))
        for writer in list(self.clients):
            writer.write(data)
            with contextlib.suppress(ConnectionError):  # a client that just went away
                await writer.drain()

    async def wait_for(self, done: Callable[[bytes], bool]) -> bytes:
        """Wait until what the clients sent so far satisfies `done`; return all of it."""
        await self._until(lambda: done(bytes(self.received)))
        return bytes(self.received)

    async def wait_received(self, data: bytes) -> bytes:
        """Wait until the clients have sent `data`; return all they sent."""
        return await self.wait_for(lambda received: data in received)

    async def wait_bytes(self, count: int) -> bytes:
        """Wait until the clients have sent `count` bytes in all; return them."""
        return await self.wait_for(lambda received: len(received) >= count)

    async def wait_connections(self, count: int) -> None:
        """Wait until `count` clients have connected, in all."""
        await self._until(lambda: self.connections >= count)

    async def _until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(IO_TIMEOUT), self._changed:
            await self._changed.wait_for(done)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self._changed:
            self.connections += 1
            number = self.connections
            self.clients.append(writer)
            self._changed.notify_all()
        try:
            writer.write(_greeting(self.greeting, number))
            await writer.drain()
            while data := await reader.read(4096):
                async with self._changed:
                    self.received += data
                    self._changed.notify_all()
                if self.reply is not None and (answer := self.reply(data)):
                    writer.write(answer)
                    await writer.drain()
        except ConnectionError:
            pass
        finally:
            if writer in self.clients:
                self.clients.remove(writer)
            writer.close()


class OneClientPeer:
    """A console that serves one client at a time, as QEMU's socket chardev does: while one is
    connected, later clients wait in the listen backlog, unaccepted. What each client sent is kept
    apart in `received`, one entry a connection. Use it with `async with`.
    """

    def __init__(self, path: Path, greeting: Greeting = b"", reply: Reply | None = None) -> None:
        self.path = path
        self.greeting = greeting
        self.reply = reply
        self.received: list[bytearray] = []
        self._listener: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: socket.socket | None = None

    async def __aenter__(self) -> OneClientPeer:
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        self._listener.listen(1)
        self._listener.setblocking(False)
        self._task = asyncio.get_running_loop().create_task(self._serve(self._listener))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            self._client.close()
        if self._listener is not None:
            self._listener.close()

    async def _serve(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            client, _ = await loop.sock_accept(listener)
            self._client = client
            received = bytearray()
            self.received.append(received)
            with contextlib.suppress(ConnectionError):
                await loop.sock_sendall(client, _greeting(self.greeting, len(self.received)))
                while data := await loop.sock_recv(client, 4096):
                    received += data
                    if self.reply is not None and (answer := self.reply(data)):
                        await loop.sock_sendall(client, answer)
            client.close()
            self._client = None


class SacPeer:
    """Plays Windows SAC byte for byte as Microsoft documents it; no real Windows can run here.

    `cmd` creates channel 1 (Cmd0001) and prints its notice; `ch` lists channels; `ch -si N` and
    Esc Tab switch to a channel, which asks for credentials; Esc Tab 0 returns to `SAC>`.
    """

    PROMPT = b"\r\nSAC>"

    def __init__(self) -> None:
        self.line = b""
        self.channels = ["SAC"]
        self.current = 0

    def greeting(self) -> bytes:
        return b"\r\nComputer is booting, SAC started and initialized.\r\n" + self.PROMPT

    def __call__(self, data: bytes) -> bytes:
        out = b""
        i = 0
        while i < len(data):
            if data[i : i + 3] == b"\x1b\t0":
                self.current = 0
                out += b"\x1b[2J\x1b[H" + self.PROMPT
                i += 3
                continue
            if data[i : i + 2] == b"\x1b\t":
                self.current = (self.current + 1) % len(self.channels)
                out += self._channel_screen()
                i += 2
                continue
            byte = data[i : i + 1]
            i += 1
            if byte == b"\r":
                out += b"\r\n" + self._command(self.line.decode(errors="replace").strip())
                self.line = b""
            elif byte == b"\x1b":
                out += b""  # SAC drops a lone ESC it does not understand
            else:
                self.line += byte
                out += byte
        return out

    def _channel_screen(self) -> bytes:
        if self.current == 0:
            return b"\x1b[2J\x1b[H" + self.PROMPT
        name = self.channels[self.current].encode()
        return (
            b"\x1b[2J\x1b[HName:                  " + name + b"\r\n"
            b"Description:           Command\r\n"
            b"Use any other key to view this channel.\r\n"
        )

    def _command(self, command: str) -> bytes:
        if command == "cmd":
            self.channels.append(f"Cmd{len(self.channels):04d}")
            return (
                b"The Command Prompt session was successfully launched.\r\n"
                + self.PROMPT
                + b'\r\nEVENT:   A new channel has been created.  Use "ch -?" for channel help.\r\n'
                + f"Channel: {self.channels[-1]}".encode()
                + self.PROMPT
            )
        if command == "ch":
            listing = "".join(f"{n}   {name}\r\n" for n, name in enumerate(self.channels))
            return (
                b'Channel List\r\n\r\n(Use "ch -?" for information on using channels)\r\n\r\n# Status  Channel Name\r\n'
                + listing.encode()
                + self.PROMPT
            )
        if command.startswith("ch -si "):
            number = int(command.split()[-1])
            if number >= len(self.channels):
                return b"Error: There is no channel present at the specified index." + self.PROMPT
            self.current = number
            return self._channel_screen()
        return (
            b""
            if not command
            else b"Unrecognized command.  Try 'help' for more information." + self.PROMPT
        )


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


class EchoConsole:
    """A console: socat joins a Unix socket to a pty whose line discipline echoes what it
    receives, as a guest's tty with echo on would; the test holds the pty's far end to see what
    reached the console and to speak as the guest. Blocking and threadless, for tests that fork."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "console.sock"
        tty_link = folder / "console.tty"
        self.received = bytearray()
        self.process = subprocess.Popen(
            ["socat", "-d", "-d", f"PTY,link={tty_link},rawer,echo=1", f"UNIX-LISTEN:{self.path}"],
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.path.exists, "socat to listen")
        self.fd = os.open(tty_link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)

    def say(self, data: bytes) -> None:
        os.write(self.fd, data)

    def got(self) -> bytes:
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.fd, 65536):
                self.received += chunk
        return bytes(self.received)

    def wait_received(self, needle: bytes) -> None:
        wait_for(lambda: needle in self.got(), f"the console to receive {needle!r}")

    def close(self) -> None:
        os.close(self.fd)
        self.process.terminate()
        self.process.wait()


_QUIET_CONSOLE = """
import socket, sys, threading
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1])
server.listen()
def drain(client):
    try:
        while client.recv(4096):
            pass
    except OSError:
        pass
while True:
    client, _ = server.accept()
    client.sendall(b"quiet login: ")
    threading.Thread(target=drain, args=(client,), daemon=True).start()
"""


@contextlib.contextmanager
def quiet_console(path: Path) -> Iterator[None]:
    """A Unix-socket console that prints a prompt, then says nothing. It runs in its own process:
    the app under test runs in a pty, and forking a pty from a threaded test process is unsafe."""
    process = subprocess.Popen([sys.executable, "-c", _QUIET_CONSOLE, str(path)])
    try:
        wait_for(path.exists, "the quiet console to listen")
        yield
    finally:
        process.kill()
        process.wait()


class TelnetLine:
    """A minimal telnet client for QEMU's telnet socket chardev (the demo guest's serial line),
    apart from the code under test: strips option negotiation and subnegotiation, sends IAC BRK."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.seen = bytearray()
        self._pending = b""

    @classmethod
    async def open(cls, path: Path) -> TelnetLine:
        reader, writer = await asyncio.open_unix_connection(str(path))
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data.replace(bytes([IAC]), bytes([IAC, IAC])))
        await self.writer.drain()

    async def send_break(self) -> None:
        self.writer.write(bytes([IAC, BRK]))
        await self.writer.drain()

    async def expect(self, text: bytes, timeout: float = 30) -> bytes:
        """Read until `text` appears in what arrived since the last match; return that stretch."""
        async with asyncio.timeout(timeout):
            while text not in self.seen:
                chunk = await self.reader.read(4096)
                if not chunk:
                    raise EOFError(f"serial socket closed; got {bytes(self.seen)[-400:]!r}")
                self.seen += self._strip(chunk)
        end = self.seen.index(text) + len(text)
        stretch = bytes(self.seen[:end])
        del self.seen[:end]
        return stretch

    def _strip(self, chunk: bytes) -> bytes:
        data = self._pending + chunk
        self._pending = b""
        out = bytearray()
        i = 0
        while i < len(data):
            byte = data[i]
            if byte != IAC:
                out.append(byte)
                i += 1
                continue
            if i + 1 >= len(data):
                self._pending = data[i:]
                break
            command = data[i + 1]
            if command == IAC:
                out.append(IAC)
                i += 2
            elif command == SB:
                end = data.find(bytes([IAC, SE]), i)
                if end < 0:
                    self._pending = data[i:]
                    break
                i = end + 2
            elif command in (WILL, WONT, DO, DONT):
                if i + 2 >= len(data):
                    self._pending = data[i:]
                    break
                i += 3
            else:
                i += 2
        return bytes(out)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


# -- `console-tui serve` and the OpenSSH client ------------------------------------------------

SSH_TIMEOUT = 10

PROBE = r'''
"""Stands in for the app: token from its pipe, the Hub over its socket, the pty's size."""
import asyncio, fcntl, os, signal, struct, sys, termios, tty
from console_tui.core.errors import ConsoleError
from console_tui.core.hubwire import RemoteHub

target = sys.argv[1]
socket_path = sys.argv[sys.argv.index("--hub-socket") + 1]
fd = int(sys.argv[sys.argv.index("--hub-token-fd") + 1])
token = os.read(fd, 4096).decode()
os.close(fd)
hub = RemoteHub.dial(socket_path, token)
out = sys.stdout.buffer


def say(text):
    out.write(f"\r\n[probe] {text}\r\n".encode())
    out.flush()


def size():
    rows, cols = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, bytes(8)))[:2]
    return f"{cols}x{rows}"


async def main():
    loop = asyncio.get_running_loop()
    ctty = os.getsid(0) == os.getpid() and os.tcgetpgrp(0) == os.getpgrp()
    hup = "default" if signal.getsignal(signal.SIGHUP) == signal.SIG_DFL else "ignored"
    say(f"pid={os.getpid()} who={hub.who} role={hub.role} ctty={'yes' if ctty else 'no'} hup={hup}")
    # The handler first: a resize that lands right after the first report is not lost.
    loop.add_signal_handler(signal.SIGWINCH, lambda: say(f"size={size()}"))
    say(f"size={size()}")
    tty.setraw(0)
    viewer = await hub.attach(target, wait=5)
    say("attached")
    inbox = asyncio.Queue()
    loop.add_reader(0, lambda: inbox.put_nowait(os.read(0, 4096)))

    async def pump():
        async for event in viewer.events():
            if event.kind in ("output", "snapshot"):
                out.write(event.data)
                out.flush()

    task = loop.create_task(pump())
    while data := await inbox.get():
        try:
            await hub.write(viewer, data)
        except ConsoleError as exc:
            say(str(exc))
    task.cancel()


asyncio.run(main())
'''
"""A stand-in for the app over ssh: it reaches the Hub with the one-time token exactly as the app
does and reports its pty's size and controlling terminal."""


class Keys:
    """Throwaway ed25519 keys made with ssh-keygen."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def make(self, name: str) -> tuple[Path, str]:
        path = self.folder / name
        if not path.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
                check=True,
            )
        return path, (self.folder / f"{name}.pub").read_text().strip()


class Server:
    """A `console-tui serve` process and ssh clients for it."""

    def __init__(
        self, process: subprocess.Popen[bytes], port: int, banner: str, keys: Keys
    ) -> None:
        self.process = process
        self.port = port
        self.banner = banner
        self.keys = keys

    def ssh_args(self, user: str, *command: str, login: str = "console") -> list[str]:
        key, _ = self.keys.make(user)
        return [
            "-F", "/dev/null", "-p", str(self.port), "-i", str(key),
            "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=5", f"{login}@127.0.0.1", *command,
        ]  # fmt: skip

    def run(
        self, user: str, *command: str, login: str = "console"
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssh", *self.ssh_args(user, *command, login=login)],
            capture_output=True,
            text=True,
            timeout=SSH_TIMEOUT,
        )

    def spawn(self, user: str, *command: str, rows: int = 24, columns: int = 80) -> pexpect.spawn:
        child = pexpect.spawn(
            "ssh",
            ["-tt", *self.ssh_args(user, *command)],
            dimensions=(rows, columns),
            timeout=SSH_TIMEOUT,
        )
        return child

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(SSH_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def users_toml(keys: Keys, roles: dict[str, str], groups: dict[str, list[str]]) -> str:
    """`[[user]]` entries with a fresh key each, for `serve`."""
    text = ""
    for name, role in roles.items():
        _, public = keys.make(name)
        text += f'[[user]]\nname = "{name}"\nrole = "{role}"\nkeys = [{json.dumps(public)}]\n'
        if name in groups:
            text += f"groups = {json.dumps(groups[name])}\n"
    return text


def start_server(
    folder: Path, config_text: str, keys: Keys, *, app_command: list[str] | None = None
) -> Server:
    config_path = folder / "config.toml"
    config_path.write_text(config_text)
    if app_command is None:
        argv = [sys.executable, "-m", "console_tui", "--config", str(config_path), "serve",
                "--listen", "127.0.0.1:0"]  # fmt: skip
    else:
        code = (
            "import asyncio, sys; from console_tui.core import config; "
            "from console_tui.server import run; "
            "asyncio.run(run(config.load(sys.argv[1]), '127.0.0.1', 0, app_command=sys.argv[2:]))"
        )
        argv = [sys.executable, "-c", code, str(config_path), *app_command]
    process = subprocess.Popen(
        argv,
        bufsize=0,
        stdout=subprocess.PIPE,
        stderr=(folder / "server.log").open("wb"),
        # As under nohup: the app processes must not inherit an ignored SIGHUP.
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    assert process.stdout is not None
    banner = b""
    deadline = time.monotonic() + SSH_TIMEOUT
    while b"connect:" not in banner:
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = process.stdout.readline() if ready else b""
        if not line:
            process.kill()
            log = (folder / "server.log").read_text(errors="replace")
            raise AssertionError(f"server did not start: {banner!r}\n{log}")
        banner += line
    match = re.search(rb"SSH server on 127\.0\.0\.1:(\d+)", banner)
    assert match, banner
    return Server(process, int(match.group(1)), banner.decode(), keys)

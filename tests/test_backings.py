"""Console backings against real peers: socat sockets and ptys, and a recording telnet server."""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import need_command
from peers import (
    BINARY,
    DO,
    DONT,
    ECHO,
    IAC,
    SB,
    SE,
    SGA,
    STATUS,
    TERMINAL_TYPE,
    WILL,
    WONT,
    ConsolePeer,
    TtyEnd,
    socat_listener,
    socat_pty_pair,
)

from console_tui.core.backings import (
    Backing,
    BackingClosed,
    URIError,
    _stream,
    make_backing,
    parse_console_uri,
)
from console_tui.core.backings._telnet import TelnetCodec
from console_tui.core.errors import NotPermittedError, UnreachableError

# What QEMU's socket chardev sends first with telnet=on.
QEMU_GREETING = bytes((IAC, WILL, ECHO, IAC, WILL, SGA, IAC, WILL, BINARY, IAC, DO, BINARY))
QEMU_ANSWERS = bytes((IAC, DO, ECHO, IAC, DO, SGA, IAC, DO, BINARY, IAC, WILL, BINARY))


async def read_exactly(backing: Backing, size: int) -> bytes:
    data = b""
    async with asyncio.timeout(5):
        while len(data) < size:
            data += await backing.read()
    return data


def assert_one_line_error(error: Exception, *words: str) -> None:
    """An operator's error: one line with what failed, where, and a fix, containing `words`."""
    if isinstance(error, URIError):  # config reports it with the file and line as the where
        text = f"{error}; {error.fix}"
        assert error.fix, text
    else:
        assert isinstance(error, UnreachableError | NotPermittedError)
        text = str(error)
        assert error.what and error.where and error.fix, text
    assert "\n" not in text
    for word in words:
        assert word in text, text


@pytest.fixture
def socat() -> None:
    need_command("socat")


# Raw sockets


@pytest.mark.parametrize("scheme", ["unix", "tcp"])
async def test_raw_socket_carries_bytes_both_ways_but_no_break(
    socat: None, sock_dir: Path, scheme: str
) -> None:
    """Every byte passes unchanged, telnet-looking ones too; a raw socket has no BREAK."""
    path = sock_dir / "vm.sock"
    address = f"UNIX-LISTEN:{path}" if scheme == "unix" else "TCP-LISTEN:0,bind=127.0.0.1"
    async with socat_listener(address) as peer:
        uri = f"unix://{path}" if scheme == "unix" else f"tcp://127.0.0.1:{peer.port}"
        backing = make_backing(uri)
        await backing.open()
        try:
            await backing.write(b"root\r\xff\xf3\x00")
            assert await peer.receive(8) == b"root\r\xff\xf3\x00"
            await peer.send(b"login: \xff\xfb\x01\r\x00")
            assert await read_exactly(backing, 12) == b"login: \xff\xfb\x01\r\x00"
            assert not backing.can_break
            with pytest.raises(NotPermittedError) as caught:
                await backing.send_break()
            assert_one_line_error(
                caught.value, "cannot send BREAK", backing.uri.place, "telnet", "control backing"
            )
        finally:
            await backing.close()


def test_raw_socket_break_reasons_name_the_way_out() -> None:
    assert make_backing("unix:///run/vm.sock").break_reason == (
        "a raw socket carries no BREAK; use ?telnet=1 with QEMU telnet=on, or a control backing"
    )
    assert "raw TCP" in make_backing("tcp://10.0.0.5:7001").break_reason
    assert make_backing("unix:///run/vm.sock?telnet=1").can_break


# Telnet framing


@pytest.fixture
async def telnet_peer() -> AsyncIterator[ConsolePeer]:
    """A telnet server on TCP that offers what QEMU offers, and more, before its prompt."""
    greeting = QEMU_GREETING + bytes((IAC, DO, TERMINAL_TYPE, IAC, WILL, STATUS)) + b"login: "
    async with ConsolePeer(greeting=greeting) as peer:
        yield peer


async def test_telnet_answers_negotiation_minimally(telnet_peer: ConsolePeer) -> None:
    """Accept ECHO, SGA and BINARY; refuse the rest (DO TERMINAL-TYPE, WILL STATUS)."""
    backing = make_backing(f"telnet://127.0.0.1:{telnet_peer.port}")
    await backing.open()
    try:
        assert await read_exactly(backing, 7) == b"login: "
        expected = QEMU_ANSWERS + bytes((IAC, WONT, TERMINAL_TYPE, IAC, DONT, STATUS))
        assert await telnet_peer.wait_bytes(len(expected)) == expected
        # A second offer of an option already on gets no answer: no negotiation loop.
        await telnet_peer.send(bytes((IAC, WILL, ECHO)) + b"x")
        assert await read_exactly(backing, 1) == b"x"
        await backing.write(b"y")
        assert await telnet_peer.wait_bytes(len(expected) + 1) == expected + b"y"
    finally:
        await backing.close()


async def test_telnet_doubles_iac_both_ways_and_breaks_with_iac_brk(
    telnet_peer: ConsolePeer,
) -> None:
    backing = make_backing(f"telnet://127.0.0.1:{telnet_peer.port}")
    await backing.open()
    try:
        await read_exactly(backing, 7)
        answered = len(await telnet_peer.wait_bytes(len(QEMU_ANSWERS) + 6))
        await telnet_peer.send(b"a\xff\xffb")
        assert await read_exactly(backing, 3) == b"a\xffb"
        await backing.write(b"x\xffy\r")
        received = await telnet_peer.wait_bytes(answered + 5)
        assert received[answered:] == b"x\xff\xffy\r"  # binary mode: no NUL after CR
        assert backing.can_break and backing.break_reason == ""
        await backing.send_break()
        await backing.write(b"z")
        received = await telnet_peer.wait_bytes(answered + 8)
        assert received[answered + 5 :] == b"\xff\xf3z"
    finally:
        await backing.close()


async def test_telnet_strips_commands_split_across_reads() -> None:
    """IAC WILL ECHO, a subnegotiation and CR NUL each arrive in two reads and still vanish."""
    async with ConsolePeer() as peer:
        backing = make_backing(f"telnet://127.0.0.1:{peer.port}")
        await backing.open()
        try:
            await peer.send(b"one\xff")
            assert await backing.read() == b"one"
            pending = asyncio.create_task(read_exactly(backing, 4))
            await peer.send(bytes((WILL, ECHO, IAC, SB, TERMINAL_TYPE, 1, IAC, IAC, IAC)))
            # The client has decoded that read once its DO ECHO answer is here.
            await peer.wait_for(lambda data: data.endswith(bytes((IAC, DO, ECHO))))
            await peer.send(bytes((SE,)) + b"two\r")
            assert await pending == b"two\r"
            await peer.send(b"\x00\n")
            assert await backing.read() == b"\n"
            await backing.write(b"ls\r")
            received = await peer.wait_for(lambda data: data.endswith(b"ls\r\x00"))
            assert received == bytes((IAC, DO, ECHO)) + b"ls\r\x00"  # not binary: CR NUL
        finally:
            await backing.close()


async def test_unix_telnet_framing_as_qemu_telnet_on(sock_dir: Path) -> None:
    path = sock_dir / "vm.sock"
    async with ConsolePeer(path, QEMU_GREETING + b"\xff\xff ok") as peer:
        backing = make_backing(f"unix://{path}?telnet=1")
        await backing.open()
        try:
            assert await read_exactly(backing, 4) == b"\xff ok"
            assert await peer.wait_bytes(len(QEMU_ANSWERS)) == QEMU_ANSWERS
            assert backing.can_break
            await backing.send_break()
            await backing.write(b"\xff")
            received = await peer.wait_bytes(len(QEMU_ANSWERS) + 4)
            assert received[len(QEMU_ANSWERS) :] == b"\xff\xf3\xff\xff"
        finally:
            await backing.close()


def test_telnet_codec_gives_the_same_bytes_fed_one_at_a_time() -> None:
    stream = (
        b"a\r\x00b"
        + bytes((IAC, SB, TERMINAL_TYPE, 0, IAC, IAC, 1, IAC, SE))
        + bytes((IAC, 0xF1, IAC, WILL, 0x27, IAC, DO, 0x1F, IAC, DONT, SGA, IAC, WONT, ECHO))
        + b"\xff\xffc\r\n"
    )
    whole = TelnetCodec().decode(stream)
    codec = TelnetCodec()
    pieces = [codec.decode(bytes((byte,))) for byte in stream]
    assert whole == (b"a\rb\xffc\r\n", bytes((IAC, DONT, 0x27, IAC, WONT, 0x1F)))
    assert (b"".join(p[0] for p in pieces), b"".join(p[1] for p in pieces)) == whole


def test_telnet_codec_turns_options_off_when_told() -> None:
    codec = TelnetCodec()
    codec.decode(bytes((IAC, WILL, BINARY, IAC, DO, BINARY)))
    assert codec.encode(b"\r") == b"\r"
    _, answers = codec.decode(bytes((IAC, DONT, BINARY, IAC, WONT, BINARY, IAC, WONT, BINARY)))
    assert answers == bytes((IAC, WONT, BINARY, IAC, DONT, BINARY))
    assert codec.encode(b"\r\r\n\xff") == b"\r\x00\r\n\xff\xff"


# Ptys and serial ports


@pytest.mark.parametrize("scheme", ["pty", "serial"])
async def test_pty_carries_bytes_both_ways_but_no_break(
    socat: None, tmp_path: Path, scheme: str
) -> None:
    """pty:// and serial:// on a socat pty pair, at 115200: bytes pass unchanged both ways.

    A pty cannot carry BREAK: it has no serial line to hold in BREAK, so both refuse it and say so.
    """
    async with socat_pty_pair(tmp_path) as (near, far):
        guest = TtyEnd(far)
        backing = make_backing(f"{scheme}://{near}?baud=115200")
        await backing.open()
        try:
            await backing.write(b"reboot\r\n\x03\xff\x00")
            assert await guest.receive(11) == b"reboot\r\n\x03\xff\x00"
            guest.send(b"\x00login: \x1b[1m\n")
            assert await read_exactly(backing, 13) == b"\x00login: \x1b[1m\n"
            assert not backing.can_break
            assert "pseudo-terminal" in backing.break_reason
            with pytest.raises(NotPermittedError) as caught:
                await backing.send_break()
            assert_one_line_error(caught.value, "BREAK", near, "pseudo-terminal")
        finally:
            await backing.close()
            guest.close()


def test_serial_baud_comes_from_the_uri_else_the_target() -> None:
    from_uri = make_backing("serial:///dev/ttyS0?baud=115200", baud=9600)
    assert from_uri.baud == 115200  # type: ignore[attr-defined]
    assert make_backing("serial:///dev/ttyS0", baud=9600).baud == 9600  # type: ignore[attr-defined]
    for bad in ("fast", "0", "-9600"):
        with pytest.raises(URIError) as caught:
            parse_console_uri(f"serial:///dev/ttyS0?baud={bad}")
        assert_one_line_error(caught.value, "baud", bad, "?baud=115200")


# The far end going away, and a closed line


async def test_tcp_eof_is_backing_closed(socat: None) -> None:
    async with socat_listener("TCP-LISTEN:0,bind=127.0.0.1") as peer:
        backing = make_backing(f"tcp://127.0.0.1:{peer.port}")
        await backing.open()
        await peer.send(b"bye")
        peer.end_input()
        assert await read_exactly(backing, 3) == b"bye"
        with pytest.raises(BackingClosed):
            await read_exactly(backing, 1)
        await backing.close()


async def test_telnet_hang_up_is_backing_closed(telnet_peer: ConsolePeer) -> None:
    backing = make_backing(f"telnet://127.0.0.1:{telnet_peer.port}")
    await backing.open()
    await read_exactly(backing, 7)
    await telnet_peer.hang_up()
    with pytest.raises(BackingClosed):
        await read_exactly(backing, 1)
    await backing.close()


@pytest.mark.parametrize("scheme", ["pty", "serial"])
async def test_pty_peer_gone_is_backing_closed(socat: None, tmp_path: Path, scheme: str) -> None:
    async with socat_pty_pair(tmp_path) as (near, _):
        backing = make_backing(f"{scheme}://{near}")
        await backing.open()
        reading = asyncio.create_task(read_exactly(backing, 1))
    with pytest.raises(BackingClosed):
        await reading
    await backing.close()


async def test_closed_line_refuses_writes_and_closes_twice(socat: None, tmp_path: Path) -> None:
    async with socat_pty_pair(tmp_path) as (near, _):
        backing = make_backing(f"pty://{near}")
        await backing.close()  # never opened: nothing to do
        await backing.open()
        await backing.close()
        await backing.close()
        with pytest.raises(BackingClosed):
            await backing.write(b"x")
        with pytest.raises(BackingClosed):
            await backing.read()


async def test_close_ends_a_pending_read(socat: None) -> None:
    async with socat_listener("TCP-LISTEN:0,bind=127.0.0.1") as peer:
        backing = make_backing(f"tcp://127.0.0.1:{peer.port}")
        await backing.open()
        reading = asyncio.create_task(backing.read())
        await asyncio.sleep(0)
        await backing.close()
        with pytest.raises(BackingClosed):
            await reading
        with pytest.raises(BackingClosed):
            await backing.write(b"x")


# Bad input: each error says what, where and the fix


async def test_missing_socket_says_it_does_not_exist(sock_dir: Path) -> None:
    path = sock_dir / "gone.sock"
    with pytest.raises(UnreachableError) as caught:
        await make_backing(f"unix://{path}").open()
    assert_one_line_error(caught.value, "does not exist", str(path), "VM running")


async def test_a_file_that_is_not_a_socket(sock_dir: Path) -> None:
    path = sock_dir / "vm.log"
    path.write_text("")
    with pytest.raises(UnreachableError) as caught:
        await make_backing(f"unix://{path}").open()
    assert_one_line_error(caught.value, "is not a socket", str(path))


async def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for scheme in ("tcp", "telnet"):
        with pytest.raises(UnreachableError) as caught:
            await make_backing(f"{scheme}://127.0.0.1:{port}").open()
        assert_one_line_error(caught.value, "connection refused", f"127.0.0.1:{port}", "listening")


async def test_connect_timeout_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A listener whose queue is full drops new connection requests, so connect waits forever."""
    monkeypatch.setattr(_stream, "CONNECT_TIMEOUT", 0.3)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(3):
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            with pytest.raises(UnreachableError) as caught:
                await make_backing(f"tcp://127.0.0.1:{port}").open()
        finally:
            for filler in fillers:
                filler.close()
    assert_one_line_error(caught.value, "no answer within 0.3 s", f"127.0.0.1:{port}")


async def test_unknown_host_says_so() -> None:
    with pytest.raises(UnreachableError) as caught:
        await make_backing("telnet://no-such-host.invalid:23").open()
    assert_one_line_error(caught.value, "no-such-host.invalid", "host name")


def open_as_nobody(uri: str) -> str:
    """Open a backing in a child process that has dropped root, and return its error.

    The tests run as root, and root is never denied a device, so the child gives up root (nobody,
    nogroup, no extra groups) to meet the kernel's real EACCES.
    """
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(grp.getgrnam("nogroup").gr_gid)
            os.setuid(pwd.getpwnam("nobody").pw_uid)
            try:
                asyncio.run(make_backing(uri).open())
                message = "opened"
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
            os.write(writer, message.encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        text = answer.read().decode()
    os.waitpid(pid, 0)
    return text


def test_permission_denied_names_the_group_and_the_fix() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the device to a group and drop to nobody")
    primary, secondary = os.openpty()
    path = os.ttyname(secondary)
    try:
        os.chown(path, 0, grp.getgrnam("dialout").gr_gid)
        os.chmod(path, 0o660)
        for scheme in ("serial", "pty"):
            message = open_as_nobody(f"{scheme}://{path}")
            assert message.startswith("UnreachableError: "), message
            assert "\n" not in message
            for words in ("permission denied", path, "'dialout' group", "usermod -aG dialout"):
                assert words in message, message
    finally:
        os.close(secondary)
        os.close(primary)


async def test_serial_port_open_elsewhere_is_busy(socat: None, tmp_path: Path) -> None:
    async with socat_pty_pair(tmp_path) as (near, _):
        first = make_backing(f"serial://{near}")
        await first.open()
        try:
            with pytest.raises(UnreachableError) as caught:
                await make_backing(f"serial://{near}").open()
            assert_one_line_error(caught.value, "busy", near, f"fuser -v {near}")
        finally:
            await first.close()


@pytest.mark.parametrize("scheme", ["serial", "pty"])
async def test_not_a_terminal_device(scheme: str, tmp_path: Path) -> None:
    plain = tmp_path / "ttyFAKE"
    plain.write_text("")
    for path in ("/dev/null", str(plain)):
        with pytest.raises(UnreachableError) as caught:
            await make_backing(f"{scheme}://{path}").open()
        assert_one_line_error(caught.value, "not a terminal device", path, f"{scheme}://")


@pytest.mark.parametrize("scheme", ["serial", "pty"])
async def test_no_such_device(scheme: str) -> None:
    with pytest.raises(UnreachableError) as caught:
        await make_backing(f"{scheme}:///dev/ttyNOSUCH9").open()
    assert_one_line_error(caught.value, "does not exist", "/dev/ttyNOSUCH9", "ls /dev/tty")

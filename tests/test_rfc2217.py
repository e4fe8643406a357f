"""`rfc2217://` against a real ser2net (Debian): in front of a pty the test makes, in front of
the demo guest's telnet serial line, and as a plain telnet server that does not speak RFC 2217.

ser2net runs with its own yaml in a temp dir, on loopback, and is stopped by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import termios
import time
import tty
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import need_command, wait_for

from console_tui.core.backings import BackingClosed, make_backing, parse_console_uri
from console_tui.core.backings.rfc2217 import NOT_RFC2217, RFC2217Backing
from console_tui.core.errors import NotPermittedError
from console_tui.lab.guest import LabInfo
from console_tui.lab.ser2net import Ser2net
from console_tui.lab.ser2net import ser2net as lab_ser2net


@contextlib.contextmanager
def ser2net(folder: Path, accepter: str, connector: str) -> Iterator[Ser2net]:
    need_command("ser2net")
    with lab_ser2net(folder, accepter, connector) as server:
        yield server


@dataclass
class Pty:
    """A pty pair: ser2net opens `path` as its serial device; the test is the far end (`master`)."""

    master: int
    slave: int
    path: str
    ser2net_pid: int = 0

    def termios(self) -> list[object]:
        return termios.tcgetattr(self.slave)

    def receive(self, needle: bytes, timeout: float = 5.0) -> bytes:
        got = b""
        deadline = time.monotonic() + timeout
        while needle not in got:
            assert time.monotonic() < deadline, f"the pty got {got!r}, not {needle!r}"
            with contextlib.suppress(BlockingIOError):
                got += os.read(self.master, 4096)
            time.sleep(0.02)
        return got


@pytest.fixture(scope="module")
def pty_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pty, int]]:
    """A pty behind ser2net's RFC 2217 accepter: (the pty, the port)."""
    master, slave = os.openpty()
    tty.setraw(master)
    os.set_blocking(master, False)
    line = Pty(master, slave, os.ttyname(slave))
    folder = tmp_path_factory.mktemp("ser2net")
    try:
        with ser2net(folder, "telnet(rfc2217)", f"serialdev,{line.path},115200n81,local") as s:
            line.ser2net_pid = s.process.pid
            yield line, s.port
    finally:
        os.close(master)
        os.close(slave)


class Reader:
    """Reads a backing as a session does (replies to line settings arrive with the reads)."""

    def __init__(self, backing: RFC2217Backing) -> None:
        self.backing = backing
        self.got = bytearray()
        self.task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        with contextlib.suppress(BackingClosed):
            while True:
                self.got += await self.backing.read()

    async def wait_for(self, needle: bytes, timeout: float = 10.0) -> bytes:
        async with asyncio.timeout(timeout):
            while needle not in self.got:
                await asyncio.sleep(0.02)
        return bytes(self.got)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.backing.close()


@contextlib.asynccontextmanager
async def opened(uri: str) -> AsyncIterator[Reader]:
    backing = make_backing(uri)
    assert isinstance(backing, RFC2217Backing)
    await backing.open()
    reader = Reader(backing)
    try:
        yield reader
    finally:
        await reader.close()


async def settled(backing: RFC2217Backing, timeout: float = 5.0) -> str:
    """The line in words once the server confirmed everything asked."""
    async with asyncio.timeout(timeout):
        while "not confirmed" in backing.line:
            await asyncio.sleep(0.02)
    return backing.line


def speed(line: Pty) -> tuple[int, int]:
    attrs = line.termios()
    return attrs[4], attrs[5]  # type: ignore[return-value]


def stop_bits(line: Pty) -> int:
    return 2 if line.termios()[2] & termios.CSTOPB else 1  # type: ignore[operator]


async def test_line_settings_reach_the_port_and_data_goes_both_ways(
    pty_port: tuple[Pty, int],
) -> None:
    """Baud and stop bits show in the pty's termios. Data bits and parity are confirmed by
    ser2net's replies only: a Linux pty forces CS8 without parity whatever is set on it."""
    line, port = pty_port
    uri = f"rfc2217://127.0.0.1:{port}?baud=9600&data=7&parity=even&stop=2"
    async with opened(uri) as reader:
        backing = reader.backing
        assert backing.com_port is True
        assert await settled(backing) == "9600 7E2, no flow control"
        assert speed(line) == (termios.B9600, termios.B9600)
        assert stop_bits(line) == 2

        await backing.write(b"from the operator \xff\r\n")
        line.receive(b"from the operator \xff\r\n")
        os.write(line.master, b"from the port \xff\r\n")
        await reader.wait_for(b"from the port \xff\r\n")

        assert await backing.set_baud(19200) == "19200 7E2, no flow control"
        assert speed(line) == (termios.B19200, termios.B19200)


async def test_a_new_connection_sets_the_line_again(pty_port: tuple[Pty, int]) -> None:
    line, port = pty_port
    async with opened(f"rfc2217://127.0.0.1:{port}?baud=57600&stop=1") as reader:
        assert await settled(reader.backing) == "57600 8N1, no flow control"
        assert speed(line) == (termios.B57600, termios.B57600)
        assert stop_bits(line) == 1


async def test_break_is_set_control_and_reaches_the_device(
    pty_port: tuple[Pty, int], tmp_path: Path
) -> None:
    """ser2net confirms SET-CONTROL BREAK for a serial device, so no IAC BRK follows. A pty
    cannot pass a BREAK on, so ser2net's break ioctls on it are watched with strace."""
    need_command("strace")
    line, port = pty_port
    log = tmp_path / "ioctl.log"
    async with opened(f"rfc2217://127.0.0.1:{port}") as reader:
        await settled(reader.backing)
        tracer = await asyncio.create_subprocess_exec(
            "strace",
            "-f",
            "-e",
            "trace=ioctl",
            "-o",
            str(log),
            "-p",
            str(line.ser2net_pid),
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert tracer.stderr is not None
            said = await asyncio.wait_for(tracer.stderr.readline(), 10)
            assert b"attached" in said, said
            await reader.backing.send_break()
            async with asyncio.timeout(10):
                while "TIOCCBRK" not in log.read_text():
                    await asyncio.sleep(0.05)
        finally:
            tracer.terminate()  # strace detaches; ser2net goes on
            await tracer.wait()
        calls = log.read_text()
        assert calls.index("TIOCSBRK") < calls.index("TIOCCBRK")
        assert "IAC BRK" not in reader.backing.line


async def test_a_plain_telnet_server_is_reported_and_still_works(
    tmp_path: Path,
) -> None:
    master, slave = os.openpty()
    tty.setraw(master)
    os.set_blocking(master, False)
    line = Pty(master, slave, os.ttyname(slave))
    try:
        with ser2net(tmp_path, "telnet", f"serialdev,{line.path},115200n81,local") as server:
            async with opened(f"rfc2217://127.0.0.1:{server.port}?baud=9600") as reader:
                backing = reader.backing
                assert backing.com_port is False
                assert backing.line == NOT_RFC2217
                await backing.write(b"typed\r")
                line.receive(b"typed\r")
                os.write(master, b"printed\r\n")
                await reader.wait_for(b"printed\r\n")
                with pytest.raises(NotPermittedError, match="not an RFC 2217 server"):
                    await backing.set_baud(9600)
                assert speed(line) == (termios.B115200, termios.B115200)
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("baud=fast", "baud 'fast' is not a positive number"),
        ("data=9", "data '9' is not 5, 6, 7 or 8 bits"),
        ("parity=maybe", "parity 'maybe' is unknown"),
        ("stop=3", "stop '3' is not 1, 1.5 or 2 bits"),
        ("flow=magic", "flow 'magic' is unknown"),
        ("speed=9600", "unknown setting 'speed'"),
    ],
)
def test_bad_line_settings_say_what_and_the_fix(query: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as caught:
        parse_console_uri(f"rfc2217://127.0.0.1:7000?{query}")
    assert getattr(caught.value, "fix", "")


def test_com_port_replies_are_kept_whole_however_the_reads_split() -> None:
    """Replies (with a doubled 0xFF in a value) come out whole at every split; console data too."""
    from console_tui.core.backings._telnet import TelnetCodec
    from console_tui.core.backings.comport import COM_PORT

    stream = (
        b"a\xff\xfa,e\x00\x00\xff\xff\xff\xf0b\xff\xfa\x18\x00xterm\xff\xf0c\xff\xfa,f\x07\xff\xf0"
    )
    for cut in range(1, len(stream)):
        codec = TelnetCodec(keep=frozenset({COM_PORT}))
        data = codec.decode(stream[:cut])[0] + codec.decode(stream[cut:])[0]
        assert data == b"abc"
        assert codec.messages == [(COM_PORT, b"e\x00\x00\xff"), (COM_PORT, b"f\x07")], cut


def rfc2217_config(folder: Path, port: int, query: str = "") -> Path:
    path = folder / "config.toml"
    path.write_text(
        f'[[target]]\nname = "port"\nconsole = "rfc2217://127.0.0.1:{port}{query}"\n'
        '[[target]]\nname = "plain"\nconsole = "telnet://127.0.0.1:1"\n'
    )
    return path


async def test_the_hub_sets_the_baud_rate_tells_everyone_and_keeps_it(
    pty_port: tuple[Pty, int], tmp_path: Path
) -> None:
    from conftest import audit_events, notice_until, state_until

    from console_tui.core.api import Role
    from console_tui.core.config import load
    from console_tui.core.hub import Hub

    line, port = pty_port
    hub = Hub(load(rfc2217_config(tmp_path, port, "?baud=9600")))
    try:
        alice = await hub.attach("port", who="alice", wait=8)
        bob = await hub.attach("port", who="bob", role=Role.VIEWER)
        status = hub.status("port")
        assert status.can_set_baud.ok, status.can_set_baud
        assert status.line.startswith("9600 8N1")
        with pytest.raises(NotPermittedError, match="a viewer cannot change the baud rate"):
            await hub.set_baud(bob, 1200)

        assert await hub.set_baud(alice, 38400) == "38400 8N1, no flow control"
        assert speed(line) == (termios.B38400, termios.B38400)
        await notice_until(bob, "alice set the line to 38400 8N1")
        hub.audit.close()
        (record,) = audit_events("baud")
        assert (record["who"], record["target"], record["baud"]) == ("alice", "port", 38400)

        await hub.reconnect(alice)
        await state_until(alice, "connected", timeout=10)
        async with asyncio.timeout(5):
            while hub.status("port").line != "38400 8N1, no flow control":
                await asyncio.sleep(0.02)
        assert speed(line) == (termios.B38400, termios.B38400)

        plain = hub.status("plain").can_set_baud
        assert not plain.ok and "telnet:// line has no baud rate" in plain.reason
    finally:
        await hub.close()


def test_send_baud_and_list_from_the_command_line(
    pty_port: tuple[Pty, int], tmp_path: Path
) -> None:
    """ser2net puts the port's settings back when its client leaves, so the rate is looked at
    while `send` still holds the line."""
    import sys

    from conftest import cli

    line, port = pty_port
    config = str(rfc2217_config(tmp_path, port))
    command = [sys.executable, "-m", "console_tui", "--config", config, "send", "port"]
    sending = subprocess.Popen(
        [*command, "--baud", "4800", "--wait", "5"], stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: speed(line) == (termios.B4800, termios.B4800), "the rate to change")
    finally:
        _, said = sending.communicate(timeout=30)
    assert sending.returncode == 0, said
    assert "console-tui: port: set the line to 4800 8N1, no flow control" in said

    listed = cli("--config", config, "list")
    assert "port: line 115200 8N1, no flow control" in listed.stderr

    refused = cli("--config", config, "send", "port", "--baud", "0")
    assert refused.returncode == 2
    assert "--baud: baud 0 is not a rate; e.g. --baud 9600" in refused.stderr


@pytest.mark.guest
async def test_sysrq_reaches_the_guest_through_ser2net_by_iac_brk(
    guest: LabInfo, tmp_path: Path
) -> None:
    """ser2net in front of the guest's telnet serial line forwards IAC BRK, not SET-CONTROL
    BREAK: the unconfirmed SET-CONTROL makes the backing send IAC BRK, and SysRq h works."""
    from conftest import output_until

    from console_tui.core.config import load
    from console_tui.core.hub import Hub

    connector = f"telnet(rfc2217),unix,{guest.serial_socket}"
    with ser2net(tmp_path, "telnet(rfc2217)", connector) as server:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[[target]]\nname = "guest"\nconsole = "rfc2217://127.0.0.1:{server.port}"\n'
        )
        hub = Hub(load(config))
        try:
            # ser2net opens its connector seconds after the client: the line is connected only
            # then, so what is typed at once is not lost.
            viewer = await hub.attach("guest", wait=15)
            await hub.write(viewer, b"echo rfc2217-$((6*7))\r")
            await output_until(viewer, b"rfc2217-42", timeout=10, snapshots=False)
            await hub.sysrq(viewer, "h")
            await output_until(viewer, b"sysrq: HELP", timeout=20, snapshots=False)
            assert "BREAK by IAC BRK" in hub.status("guest").line
        finally:
            await hub.close()


async def test_the_app_changes_the_rate_from_a_dialog_and_says_why_not_elsewhere(
    pty_port: tuple[Pty, int], tmp_path: Path
) -> None:
    """Keyboard only: the dialog opens on the line's rate, Up moves to 9600, Enter sets it; on a
    telnet:// target the rates are disabled and the dialog and the palette say why."""
    from conftest import APP_SIZE, main_screen, open_console, until
    from peers import ConsolePeer, echo
    from textual.command import CommandPalette
    from textual.widgets import OptionList

    from console_tui.core.config import load
    from console_tui.ui.app import ConsoleApp
    from console_tui.ui.commands import console_commands
    from console_tui.ui.dialogs.baud import BaudDialog

    def palette_on(app: ConsoleApp, name: str) -> bool:
        if not isinstance(app.screen, CommandPalette):
            return False
        found = app.screen.query("CommandList")
        if not found or found.first().highlighted is None:
            return False
        command_list = found.first()
        option = command_list.get_option_at_index(command_list.highlighted)
        return str(option.prompt).split("\n")[0] == name

    def dialog_up(app: ConsoleApp) -> bool:
        return isinstance(app.screen, BaudDialog) and bool(app.screen.query("#cancel"))

    line, port = pty_port
    async with ConsolePeer(greeting=b"plain login: ", reply=echo) as plain:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[[target]]\nname = "port"\nconsole = "rfc2217://127.0.0.1:{port}"\n'
            f'[[target]]\nname = "plain"\nconsole = "telnet://127.0.0.1:{plain.port}"\n'
        )
        app = ConsoleApp(load(config), blink=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            screen = main_screen(app)
            pane = await open_console(pilot, app, "port")
            confirmed = "115200 8N1, no flow control"
            await until(pilot, lambda: pane.facts.line == confirmed, "the confirmed line")
            assert f"backing: rfc2217 {confirmed}" in str(pane.query_one("#status").render())

            screen.action_baud()
            await until(pilot, lambda: dialog_up(app), "the baud dialog")
            rates = app.screen.query_one("#rates", OptionList)
            assert app.focused is rates
            highlighted = rates.get_option_at_index(rates.highlighted or 0)
            assert str(highlighted.prompt) == "115200 baud (now): Linux and most modern systems"
            await pilot.press("up", "up", "up", "up", "enter")
            await until(pilot, lambda: pane.facts.line.startswith("9600 8N1"), "9600 shown")
            assert speed(line) == (termios.B9600, termios.B9600)

            await pilot.press("ctrl+right_square_bracket", *"Baud rate 115200")
            await until(pilot, lambda: palette_on(app, "Baud rate 115200"), "the palette")
            await pilot.press("enter")
            await until(pilot, lambda: pane.facts.line.startswith("115200 8N1"), "115200 shown")
            assert speed(line) == (termios.B115200, termios.B115200)

            await open_console(pilot, app, "plain")
            reason = "a telnet:// line has no baud rate to set from here"
            names = {c.name: c.unavailable for c in console_commands(screen)}
            assert names["Baud rate 9600"].startswith(reason)
            screen.action_baud()
            await until(pilot, lambda: dialog_up(app), "the baud dialog")
            assert app.screen.query_one("#rates", OptionList).disabled
            said = str(app.screen.query_one("#reason").render())
            assert said.startswith(f"Unavailable: {reason}")
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, BaudDialog), "closed")


def test_send_baud_through_a_running_server(pty_port: tuple[Pty, int], tmp_path: Path) -> None:
    """With `serve` holding the line, `send --baud` goes over the hub wire to its Hub, and the
    rate stays while the server holds the port."""
    from conftest import capture_daemon, cli

    line, port = pty_port
    config = rfc2217_config(tmp_path, port)
    with capture_daemon(config):
        sent = cli("--config", str(config), "send", "port", "--baud", "2400", "--wait", "0")
        assert sent.returncode == 0, sent.stderr
        assert "console-tui: port: set the line to 2400 8N1, no flow control" in sent.stderr
        assert speed(line) == (termios.B2400, termios.B2400)
        listed = cli("--config", str(config), "list")
        assert "port: line 2400 8N1, no flow control" in listed.stderr


async def test_a_server_silent_about_com_port_is_plain_telnet() -> None:
    """A telnet server that never answers COM-PORT-OPTION: after the wait, plain telnet."""
    from peers import ConsolePeer

    async with (
        ConsolePeer(greeting=b"login: ") as server,
        opened(f"rfc2217://127.0.0.1:{server.port}") as reader,
    ):
        assert reader.backing.line == NOT_RFC2217
        await reader.wait_for(b"login: ")
        await reader.backing.write(b"root\r")
        await server.wait_received(b"root\r")
        await reader.backing.send_break()
        await server.wait_received(b"\xff\xf3")

"""The concentrator (`listen://HOST:PORT`) and VMware's vSPC extension on it.

The VM end is vspc_player.VspcVM, a player of the VM's side of the protocol (no ESXi host can run
here, so it stands in for one), and plain sockets for raw dialling-in lines; the Hub, sessions,
transcript and concentrator are the real ones. The last test boots the demo
guest (a real Linux under QEMU) with its serial port as a socket client dialling in.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import audit_events, capture_daemon, cli, need_command, output_until
from vspc_player import (
    DO_PROXY,
    KNOWN_SUBOPTIONS_2,
    UNKNOWN_SUBOPTION_RCVD_2,
    VMOTION_ABORT,
    VMOTION_BEGIN,
    VMOTION_COMPLETE,
    VMOTION_GOAHEAD,
    VMOTION_NOTNOW,
    VMOTION_PEER,
    VMOTION_PEER_OK,
    WILL_PROXY,
    WONT_PROXY,
    VspcVM,
)

from console_tui import lab
from console_tui.core import config, listener
from console_tui.core.api import Viewer
from console_tui.core.backings import parse_console_uri
from console_tui.core.errors import ConfigError
from console_tui.core.hub import Hub
from console_tui.core.session import SessionState
from console_tui.core.transcript import read_transcript

UUID = "42 1d 3c 5a 6b 7c 8d 9e-0f 10 21 32 43 54 65 76"
UUID_HEX = "421d3c5a6b7c8d9e0f10213243546576"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def port() -> AsyncIterator[int]:
    yield free_port()
    await listener.close_all()


def hub_for(targets: str, settings: str = "") -> Hub:
    text = f"[settings]\n{settings}\n[discovery]\nqemu = false\nserial = false\n{targets}"
    return Hub(config.parse(text))


def listen_target(name: str, port: int, picks: str = "") -> str:
    console = f"listen://127.0.0.1:{port}{'?' + picks if picks else ''}"
    return f'[[target]]\nname = "{name}"\nconsole = "{console}"\n'


async def until(check: object, what: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.02)


def transcript(hub: Hub, name: str) -> bytes:
    session = hub.session(name)
    assert session is not None
    return b"".join(read_transcript(session.transcript_path))


async def listening(hub: Hub, *names: str) -> None:
    """Open targets and wait until each waits for its VM (its concentrator is listening)."""
    for name in names:
        await hub.open(name)
    for name in names:
        await until(lambda n=name: hub.status(n).state == "waiting", f"{name} waiting")  # type: ignore[misc]


async def dial_in(hub: Hub, name: str, vm: VspcVM) -> Viewer:
    """Attach to a target, let its VM dial in, and wait until the line is up."""
    viewer = await hub.attach(name, who="alice")
    await listening(hub, name)
    await vm.connect()
    await connected(hub, name)
    return viewer


async def vmotion_to(new: VspcVM, old: VspcVM, seq: bytes) -> None:
    """BEGIN on the old host, GOAHEAD back; the new host dials in, PEER with the secret, PEER-OK."""
    await old.message(VMOTION_BEGIN, seq)
    cookie = await old.expect(VMOTION_GOAHEAD)
    await new.connect()
    await new.message(VMOTION_PEER, cookie)
    assert await new.expect(VMOTION_PEER_OK) == seq


async def connected(hub: Hub, name: str) -> None:
    await until(
        lambda: (s := hub.session(name)) is not None and s.state is SessionState.CONNECTED,
        f"{name} connected",
    )


# -- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("console", "words"),
    [
        ("listen://127.0.0.1:7001?name=x", "takes no name="),
        ("listen://127.0.0.1:7001?vm=a&peer=10.0.0.1", "one of uuid=, vm=, peer="),
        ("listen://127.0.0.1:7001?vm=", "empty vm="),
        ("listen:///tmp/x", "needs host:port"),
        ("listen://127.0.0.1:7001?peer=build-host", "not an IP address"),
    ],
)
def test_a_wrong_listen_uri_says_what_and_how(console: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse(f'[[target]]\nname = "a"\nconsole = "{console}"\n')
    assert words in str(caught.value) and "config:3" in str(caught.value)


def test_a_concentrator_is_a_bare_listen_uri() -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse('[settings]\nconcentrators = ["listen://0.0.0.0:7001?vm=a"]\n')
    assert "not a bare listen://HOST:PORT" in str(caught.value)
    assert "config:2" in str(caught.value) and "e.g." in str(caught.value)
    good = config.parse('[settings]\nconcentrators = ["listen://0.0.0.0:7001"]\n')
    assert good.settings.concentrators == ("listen://0.0.0.0:7001",)


def test_the_codec_keeps_vspc_messages_whole_at_every_read_boundary() -> None:
    """Subnegotiations of option 232 come out whole, 0xFF undoubled, however the reads cut
    them; the console bytes around them are exactly what they were."""
    from console_tui.core.backings._telnet import THEIR_OPTIONS, TelnetCodec
    from console_tui.core.vspc import message

    wire = (
        b"\xff\xfb\xe8ab\xff\xffc"
        + message(83)
        + b"d\r\n"
        + message(41, b"\x01\xff\xf0\xff")
        + b"\xff\xfa\x18\x00xterm\xff\xf0e"
    )
    for cut in range(len(wire) + 1):
        for second in range(cut, len(wire) + 1):
            codec = TelnetCodec(their_options=THEIR_OPTIONS | {232}, keep=frozenset({232}))
            parts = [codec.decode(piece) for piece in (wire[:cut], wire[cut:second], wire[second:])]
            assert b"".join(data for data, _ in parts) == b"ab\xffcd\r\ne", (cut, second)
            assert codec.messages == [(232, b"\x53"), (232, b"\x29\x01\xff\xf0\xff")]
            assert b"".join(answer for _, answer in parts) == b"\xff\xfd\xe8"
    plain = TelnetCodec()
    assert plain.decode(wire) == (b"ab\xffcd\r\ne", b"\xff\xfe\xe8") and plain.messages == []


# -- vSPC -----------------------------------------------------------------------------------


async def test_a_vspc_vm_is_waited_for_then_matched_by_name_with_bytes_exact_both_ways(
    port: int,
) -> None:
    hub = hub_for(listen_target("web-01", port, "vm=web-01") + listen_target("db", port, "vm=db"))
    vm = VspcVM("web-01", UUID, "127.0.0.1", port)
    try:
        viewer = await hub.attach("web-01", who="alice")
        await hub.open("db")
        await until(lambda: hub.status("web-01").state == "waiting", "waiting")
        assert "waiting for the VM to connect" in hub.status("web-01").detail
        assert not hub.can_break("web-01").ok

        await vm.connect()
        assert await vm.expect(KNOWN_SUBOPTIONS_2)
        assert await vm.expect(WILL_PROXY) == b""
        await connected(hub, "web-01")
        assert hub.status("db").state == "waiting", "another VM's target still waits"
        assert (254, 44) in vm.commands, "WILL 44 refused with DONT 44"
        assert hub.can_break("web-01").ok, "a telnet line carries IAC BRK"

        await vm.send(b"login: \xff\x00\r\n")
        await output_until(viewer, b"login: \xff\x00")
        await hub.write(viewer, b"root\r\xff")
        await vm.received_until(b"root\r")
        await until(lambda: len(vm.received) >= 7, "the 0xFF")
        # Outside binary mode a bare CR travels as CR NUL (RFC 854); 0xFF went doubled.
        assert bytes(vm.received) == b"root\r\x00\xff"
        await hub.send_break(viewer)
        await until(lambda: (243, -1) in vm.commands, "IAC BRK")
        assert b"login: \xff\x00\r\n" in transcript(hub, "web-01")
        marked = transcript(hub, "web-01")
        assert b"VM web-01 (127.0.0.1:" in marked, "who dialled in is marked"
        assert b"proxy C telnet://vspc.example:13370" in marked, "and its proxy direction"
    finally:
        await vm.close()
        await hub.close()


async def test_the_uuid_outranks_the_name_and_a_bad_proxy_direction_is_refused(port: int) -> None:
    hub = hub_for(
        listen_target("by-name", port, "vm=app") + listen_target("by-uuid", port, f"uuid={UUID}")
    )
    vm = VspcVM("app", UUID, "127.0.0.1", port)
    try:
        await listening(hub, "by-name", "by-uuid")
        await vm.connect()
        await connected(hub, "by-uuid")
        assert hub.status("by-name").state == "waiting"
        await vm.message(DO_PROXY, b"Xtelnet://elsewhere")
        assert await vm.expect(WONT_PROXY) == b""
        await vm.message(99, b"?")
        assert await vm.expect(UNKNOWN_SUBOPTION_RCVD_2) == b"\x63"
        session = hub.session("by-uuid")
        assert session is not None and isinstance(session.backing, object)
        assert listener.Selector.from_uri(parse_console_uri(session.target.console)).uuid == (
            UUID_HEX
        )
    finally:
        await vm.close()
        await hub.close()


async def test_vmotion_moves_the_console_with_one_continuous_transcript(port: int) -> None:
    """BEGIN, GOAHEAD with a secret, the new host's PEER, COMPLETE: the session, transcript and
    recording go on with a marker; no byte lost or doubled; a stranger's wrong PEER gets nothing."""
    hub = hub_for(listen_target("web-01", port, f"uuid={UUID}"))
    old = VspcVM("web-01", UUID, "127.0.0.1", port)
    new = VspcVM("web-01", UUID, "127.0.0.1", port)
    stranger = VspcVM("web-01", UUID, "127.0.0.1", port)
    try:
        await hub.capture()  # as under serve: refusals are audited
        viewer = await dial_in(hub, "web-01", old)
        await old.send(b"one\r\n")
        await output_until(viewer, b"one")

        await old.message(VMOTION_BEGIN, b"\x00\x07")
        goahead = await old.expect(VMOTION_GOAHEAD, timeout=5.0)
        assert goahead.startswith(b"\x00\x07") and len(goahead) > 2, "seq then a secret"
        cookie = goahead

        # A stranger guessing the secret: no PEER-OK, no console, its connection closed.
        await stranger.connect()
        await stranger.message(VMOTION_PEER, b"\x00\x07" + b"\x00" * (len(cookie) - 2))
        await asyncio.wait_for(stranger.closed.wait(), 5)
        assert stranger.messages.empty() or all(
            c != VMOTION_PEER_OK
            for c, _ in list(stranger.messages._queue)  # type: ignore[attr-defined]
        )

        await new.connect()
        await new.message(VMOTION_PEER, cookie)
        assert await new.expect(VMOTION_PEER_OK) == b"\x00\x07"
        # The old host still runs the VM: its bytes come first; the new host's wait for COMPLETE.
        await new.send(b"three\r\n")
        await old.send(b"two\r\n")
        await output_until(viewer, b"two")
        await hub.write(viewer, b"before\r")
        await old.received_until(b"before\r")
        await new.message(VMOTION_COMPLETE, b"\x00\x07")
        await old.close()
        await output_until(viewer, b"three")
        await new.send(b"four\r\n")
        await output_until(viewer, b"four")
        await hub.write(viewer, b"after\r")
        await new.received_until(b"after\r")
        assert b"before" not in new.received and b"after" not in old.received
        assert b"one" not in stranger.received and stranger.received == bytearray()

        text = transcript(hub, "web-01")
        console = b"".join(
            line + b"\n" for line in text.split(b"\n") if not line.startswith(b"[console-tui]")
        )
        assert console.count(b"one") == console.count(b"two") == 1
        assert console.count(b"three") == console.count(b"four") == 1
        assert text.index(b"one") < text.index(b"two") < text.index(b"vMotion complete")
        assert text.index(b"vMotion complete") < text.index(b"three") < text.index(b"four")
        assert text.index(b"vMotion begins") < text.index(b"two")
        session = hub.session("web-01")
        assert session is not None and session.connects == 1, "one session throughout"
        session.recording.flush()
        cast = session.recording.path.read_text()
        assert "vMotion complete" in cast and "one" in cast and "four" in cast
        assert listener.running()[0].refused == 1
        refusals = audit_events("vmotion-refused")
        assert len(refusals) == 1 and str(refusals[0]["source"]).startswith("127.0.0.1:")
        assert cookie.hex() not in json.dumps(refusals), "no secret in the audit log"
    finally:
        for vm in (old, new, stranger):
            await vm.close()
        await hub.close()


Moving = tuple[Hub, Viewer, VspcVM, VspcVM]


@pytest.fixture
async def moving(port: int) -> AsyncIterator[Moving]:
    """web-01 connected from its old host, a new host ready to take it over."""
    hub = hub_for(listen_target("web-01", port, "vm=web-01"))
    old = VspcVM("web-01", UUID, "127.0.0.1", port)
    new = VspcVM("web-01", UUID, "127.0.0.1", port)
    try:
        yield hub, await dial_in(hub, "web-01", old), old, new
    finally:
        await old.close()
        await new.close()
        await hub.close()


async def test_vmotion_abort_keeps_the_old_connection_and_one_at_a_time(
    moving: Moving, port: int
) -> None:
    hub, viewer, old, new = moving
    await vmotion_to(new, old, b"\x01")
    await old.message(VMOTION_BEGIN, b"\x02")
    assert await old.expect(VMOTION_NOTNOW) == b"\x02", "one vMotion at a time"
    await old.message(VMOTION_ABORT)
    await asyncio.wait_for(new.closed.wait(), 5)
    await old.send(b"still here\r\n")
    await output_until(viewer, b"still here")
    await hub.write(viewer, b"typed\r")
    await old.received_until(b"typed\r")
    assert b"vMotion aborted" in transcript(hub, "web-01")
    # A second connection with the same identity does not take the port over.
    again = VspcVM("web-01", UUID, "127.0.0.1", port)
    await again.connect()
    await again.expect(WILL_PROXY)
    await hub.write(viewer, b"more\r")
    await old.received_until(b"more\r")
    assert b"more" not in again.received
    await again.close()


async def test_a_vmotion_that_never_got_its_new_host_gives_way_to_the_next(
    moving: Moving, port: int
) -> None:
    _, _, old, new = moving
    await old.message(VMOTION_BEGIN, b"\x01")
    stale = await old.expect(VMOTION_GOAHEAD)
    await old.message(VMOTION_BEGIN, b"\x02")
    fresh = await old.expect(VMOTION_GOAHEAD)
    assert fresh[:1] == b"\x02" and fresh[1:] != stale[1:], "a new secret"
    late = VspcVM("web-01", UUID, "127.0.0.1", port)
    try:
        await late.connect()
        await late.message(VMOTION_PEER, stale)
        await asyncio.wait_for(late.closed.wait(), 5)
    finally:
        await late.close()
    await new.connect()
    await new.message(VMOTION_PEER, fresh)
    assert await new.expect(VMOTION_PEER_OK) == b"\x02"


@pytest.mark.parametrize("said_by", ["old", "new"])
async def test_complete_switches_whoever_says_it_while_the_old_host_stays_open(
    moving: Moving, said_by: str
) -> None:
    hub, viewer, old, new = moving
    await vmotion_to(new, old, b"\x09")
    await old.send(b"last words\r\n")
    await new.send(b"first words\r\n")
    await (old if said_by == "old" else new).message(VMOTION_COMPLETE, b"\x09")
    seen = await output_until(viewer, b"first words", snapshots=False)
    assert seen.index(b"last words") < seen.index(b"first words")
    await asyncio.wait_for(old.closed.wait(), 5)  # the old host's connection is let go
    await hub.write(viewer, b"on the new host\r")
    await new.received_until(b"on the new host\r")
    third = VspcVM("web-01", UUID, "127.0.0.1", new.port)
    try:
        await vmotion_to(third, new, b"\x0a")  # and on again: one vMotion after another
        await new.message(VMOTION_COMPLETE, b"\x0a")
        await new.close()
        await third.send(b"third host\r\n")
        await output_until(viewer, b"third host", snapshots=False)
    finally:
        await third.close()


async def test_a_flood_across_a_vmotion_arrives_whole_and_in_order(moving: Moving) -> None:
    """Both hosts send fast while the VM moves (the new host's bytes wait for COMPLETE behind
    TCP back-pressure): the transcript holds every line once, the old host's before the new's."""
    hub, _, old, new = moving
    await vmotion_to(new, old, b"\x05")
    before = b"".join(b"old %05d\r\n" % n for n in range(20000))
    after = b"".join(b"new %05d\r\n" % n for n in range(20000))
    await asyncio.gather(old.send(before), new.send(after))
    await new.message(VMOTION_COMPLETE, b"\x05")
    await old.close()
    await until(lambda: b"new 19999" in transcript(hub, "web-01"), "the whole flood", 30)
    console = re.sub(rb"\r\n\[console-tui\] [^\r]*\r\n", b"", transcript(hub, "web-01"))
    assert console == before + after


# -- strangers and raw lines ----------------------------------------------------------------


async def test_unclaimed_vms_appear_as_found_targets_named_after_their_peer(port: int) -> None:
    hub = hub_for("", f'concentrators = ["listen://127.0.0.1:{port}"]')
    vm = VspcVM("lonely vm", UUID, "127.0.0.1", port)
    try:
        await hub.capture()
        assert hub.targets() == ()
        await vm.connect()
        await until(lambda: any(t.name == "lonely-vm" for t in hub.targets()), "the VM's target")
        found = hub.target("lonely-vm")
        assert found.source == "inbound" and f"uuid={UUID_HEX}" in found.console
        await connected(hub, "lonely-vm")
        await vm.send(b"hello\r\n")
        await until(lambda: b"hello" in transcript(hub, "lonely-vm"), "its output captured")

        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"raw guest output\r\n")
        await writer.drain()
        await until(lambda: any(t.name == "peer-127.0.0.1" for t in hub.targets()), "raw one")
        await connected(hub, "peer-127.0.0.1")
        await until(lambda: b"raw guest output" in transcript(hub, "peer-127.0.0.1"), "captured")
        reason = hub.can_break("peer-127.0.0.1")
        assert not reason.ok and "raw" in reason.reason and "qmp" in reason.reason
        writer.close()
    finally:
        await vm.close()
        await hub.close()


async def test_a_target_opened_later_takes_its_vm_at_once_and_it_is_no_stranger(
    port: int,
) -> None:
    quiet = listen_target("quiet", port, "vm=quiet") + "capture = false\n"
    hub = hub_for(quiet, f'concentrators = ["listen://127.0.0.1:{port}"]')
    vm = VspcVM("quiet", UUID, "127.0.0.1", port)
    try:
        await hub.capture()
        await vm.connect()
        await vm.expect(WILL_PROXY)
        await until(
            lambda: listener.parked_for("127.0.0.1", port, listener.Selector(vm="quiet")), "parked"
        )
        viewer = await hub.attach("quiet", who="alice", wait=5)  # no "waiting" on the way
        assert [t.name for t in hub.targets()] == ["quiet"], "no found target for a claimed VM"
        await vm.send(b"here all along\r\n")
        await output_until(viewer, b"here all along")
    finally:
        await vm.close()
        await hub.close()


async def test_a_raw_line_is_matched_by_peer_address_else_by_a_port_of_its_own(
    port: int, tmp_path: Path
) -> None:
    other = free_port()
    hub = hub_for(
        listen_target("by-peer", port, "peer=127.0.0.2")
        + listen_target("own-port", other)
        + listen_target("nobody", port, "peer=10.9.9.9")
    )
    try:
        await listening(hub, "by-peer", "own-port", "nobody")
        _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
        writer.write(b"from .2\r\n")
        await connected(hub, "by-peer")
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", other)
        await connected(hub, "own-port")
        viewer = await hub.attach("own-port", who="alice")
        await hub.write(viewer, b"\xff\r")
        assert await reader2.readexactly(2) == b"\xff\r", "raw: bytes as they are"
        assert hub.status("nobody").state == "waiting"
        await until(lambda: b"from .2" in transcript(hub, "by-peer"), "the peer's bytes")
        writer.close()
        writer2.close()
        await until(lambda: hub.status("own-port").state == "waiting", "waiting again")
    finally:
        await hub.close()


async def test_a_plain_telnet_client_is_read_as_telnet_and_can_break(port: int) -> None:
    """A vSphere network port without the concentrator option negotiates plain telnet."""
    hub = hub_for(listen_target("esx-plain", port))
    try:
        viewer = await hub.attach("esx-plain", who="alice")
        await listening(hub, "esx-plain")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\xff\xfb\x03\xff\xfb\x00boot: \xff\xff\r\n")
        await output_until(viewer, b"boot: \xff\r\n")
        assert await reader.readexactly(6) == b"\xff\xfd\x03\xff\xfd\x00", "DO SGA, DO BINARY"
        assert hub.can_break("esx-plain").ok
        await hub.send_break(viewer)
        assert await reader.readexactly(2) == b"\xff\xf3"
        writer.close()
    finally:
        await hub.close()


async def test_a_port_taken_by_another_program_says_so(port: int) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        hub = hub_for(listen_target("web", port))
        try:
            await hub.open("web")
            await until(lambda: hub.status("web").state == "unreachable", "unreachable")
            detail = hub.status("web").detail
            assert "cannot listen" in detail and f"ss -ltnp | grep :{port}" in detail
        finally:
            await hub.close()


async def test_serve_holds_dialled_in_vms_and_the_commands_see_them(
    port: int, tmp_path: Path
) -> None:
    """`serve --no-ssh` listens, says where VMs dial in, matches one and adds the stranger; `list`
    and `log` in other processes see both."""
    path = tmp_path / "config.toml"
    path.write_text(
        f'[settings]\nconcentrators = ["listen://127.0.0.1:{port}"]\n'
        "[discovery]\nqemu = false\nserial = false\n" + listen_target("web-01", port, "vm=web-01")
    )
    web = VspcVM("web-01", UUID, "127.0.0.1", port)
    stray = VspcVM("stray", "00" * 16, "127.0.0.1", port)
    with capture_daemon(path) as said:
        assert f"VMs dial in at listen://127.0.0.1:{port}" in said
        try:
            await web.connect()
            await stray.connect()
            await web.send(b"web says hi\r\n")
            await stray.send(b"stray says hi\r\n")

            async def listed() -> dict[str, dict[str, object]]:
                out = await asyncio.to_thread(cli, "--config", str(path), "list", "--json")
                return {row["name"]: row for row in json.loads(out.stdout)}

            async with asyncio.timeout(30):
                while (rows := await listed()).get("stray", {}).get("state") != "connected":
                    await asyncio.sleep(0.2)
            assert rows["web-01"]["state"] == "connected"
            assert rows["stray"]["source"] == "inbound"
            log = await asyncio.to_thread(cli, "--config", str(path), "log", "web-01")
            assert "web says hi" in log.stdout and "stray" not in log.stdout
        finally:
            await web.close()
            await stray.close()


# -- a real QEMU dialling in ----------------------------------------------------------------


class DiallingLab(lab.Lab):
    """The demo guest with its serial port as a socket client: QEMU dials the concentrator."""

    def __init__(self, folder: Path, port: int) -> None:
        super().__init__(folder)
        self.port = port

    def _qemu_command(self, qemu: str, kernel: Path) -> list[str]:
        command = super()._qemu_command(qemu, kernel)
        at = next(i for i, part in enumerate(command) if part.startswith("socket,id=ser0,"))
        log = str(self.serial_log).replace(",", ",,")
        command[at] = (
            f"socket,id=ser0,host=127.0.0.1,port={self.port},server=off,telnet=on,reconnect=1,"
            f"logfile={log},logappend=on"
        )
        return command


@pytest.mark.guest
async def test_the_demo_guest_dials_in_raw_and_is_typed_at(port: int) -> None:
    """QEMU 7.2 as a socket client ignores telnet=on and sends raw bytes: the line is raw,
    matched by its port, waited for before it connects, and cannot BREAK (it says so)."""
    need_command("qemu-system-x86_64", "busybox")
    hub = hub_for(listen_target("dialler", port))
    folder = Path(tempfile.mkdtemp(prefix="ctui-", dir="/tmp"))
    guest = DiallingLab(folder, port)
    try:
        viewer = await hub.attach("dialler", who="alice")
        await listening(hub, "dialler")
        assert "waiting for the VM to connect" in hub.status("dialler").detail
        await asyncio.to_thread(guest.up, 120)
        await connected(hub, "dialler")
        await until(lambda: lab.READY_LINE.encode() in transcript(hub, "dialler"), "the boot")
        await hub.write(viewer, b"echo dialled-$((6*7))\r")
        await output_until(viewer, b"dialled-42", timeout=30)
        refused = hub.can_break("dialler")
        assert not refused.ok and "raw" in refused.reason and "qmp" in refused.reason
        assert b"dialled in (raw)" in transcript(hub, "dialler")
    finally:
        await hub.close()
        await asyncio.to_thread(guest.down)
        shutil.rmtree(folder, ignore_errors=True)

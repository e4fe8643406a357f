"""The timed recording (asciicast v2) beside each transcript, and `log --cast` / `log --since`.

Consoles here are real peers: socat on a Unix socket, the telnet-framing peer of tests/peers.py, and
a real QEMU (stopped before its first instruction) for the QMP control. The recordings are played by
the real asciinema under `script`, which gives it the terminal it wants.
"""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import need_command
from peers import ConsolePeer, SocatListener, socat_listener

from console_tui.core import config
from console_tui.core.api import Role, Viewer
from console_tui.core.errors import UnreachableError
from console_tui.core.hub import Hub
from console_tui.core.recording import Recording, recording_path
from console_tui.core.transcript import read_transcript, transcript_files, transcript_path

IAC_BRK = b"\xff\xf3"


def make_hub(console: str, *, control: str = "", settings: str = "") -> Hub:
    text = f'{settings}\n[[target]]\nname = "vm"\nconsole = "{console}"\n'
    if control:
        text += f'control = "{control}"\n'
    return Hub(config.parse(text))


def cast_lines(path: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    """One recording file, parsed on its own: the header and the events."""
    header, *events = (json.loads(line) for line in path.read_text("utf-8").splitlines())
    return header, events


def output_of(events: list[list[Any]]) -> str:
    return "".join(text for _, kind, text in events if kind == "o")


def markers_of(events: list[list[Any]]) -> list[str]:
    return [text for _, kind, text in events if kind == "m"]


def transcript_text(name: str) -> str:
    return b"".join(read_transcript(transcript_path(name))).decode("utf-8", "replace")


async def seen(viewer: Viewer, needle: bytes) -> None:
    """Wait until the viewer has been sent `needle` (so the session has read and recorded it)."""
    got = bytearray()
    async with asyncio.timeout(5):
        while needle not in got:
            event = await viewer.queue.get()
            if event.kind == "output":
                got.extend(event.data)


@pytest.fixture
async def socat_console(tmp_path: Path) -> AsyncIterator[tuple[SocatListener, str]]:
    """socat listening on a Unix socket: the console line; yields it and its URI."""
    need_command("socat")
    path = tmp_path / "console.sock"
    async with socat_listener(f"UNIX-LISTEN:{path}") as listener:
        yield listener, f"unix://{path}"


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "console_tui", *args], capture_output=True, timeout=60
    )


def in_a_terminal(*command: str) -> bytes:
    """What `command` prints on a terminal: run under util-linux `script`, which gives it a pty."""
    need_command("script")
    line = " ".join(command)
    done = subprocess.run(
        ["script", "-q", "-e", "-c", line, "/dev/null"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


# -- what is recorded -----------------------------------------------------------------------


async def test_output_events_joined_are_the_transcript_text(
    socat_console: tuple[SocatListener, str],
) -> None:
    console, uri = socat_console
    hub = make_hub(uri)
    try:
        me = await hub.attach("vm", who="alice", source="192.0.2.7", wait=5)
        await console.send(b"login: \x1b[1mroot\x1b[0m\r\n")
        await seen(me, b"root")
        await hub.resize(me, 100, 30)
        await console.send("grüße, 日本\r\n".encode() + b"bad \xff byte\r\n")
        await seen(me, b"byte\r\n")
        await hub.write(me, b"secret-password\r")
        assert await console.receive(16) == b"secret-password\r"
    finally:
        await hub.close()
    header, events = cast_lines(recording_path("vm"))
    assert header["version"] == 2 and (header["width"], header["height"]) == (80, 24)
    assert isinstance(header["timestamp"], int) and header["title"] == "vm"
    assert output_of(events) == transcript_text("vm")
    assert "grüße, 日本" in output_of(events) and "bad \ufffd byte" in output_of(events)
    assert [text for _, kind, text in events if kind == "r"] == ["100x30"]
    assert {kind for _, kind, _ in events} == {"o", "m", "r"}, "no input events, ever"
    assert "secret-password" not in recording_path("vm").read_text("utf-8")
    times = [at for at, _, _ in events]
    assert times == sorted(times) and times[0] >= 0


async def test_a_character_split_across_two_reads_survives(
    socat_console: tuple[SocatListener, str],
) -> None:
    console, uri = socat_console
    hub = make_hub(uri)
    try:
        me = await hub.attach("vm", who="alice", wait=5)
        await console.send(b"caf\xc3")
        await seen(me, b"caf\xc3")
        await console.send(b"\xa9 \xe2\x82")
        await seen(me, b"\xe2\x82")
        await console.send(b"\xac\r\n")
        await seen(me, b"\xac\r\n")
    finally:
        await hub.close()
    _, events = cast_lines(recording_path("vm"))
    pieces = [text for _, kind, text in events if kind == "o"]
    assert any(p.endswith("caf") for p in pieces) and any(p.startswith("é") for p in pieces)
    assert "café €\r\n" in output_of(events) and "\ufffd" not in output_of(events)


async def test_markers_name_who_did_what(tmp_path: Path) -> None:
    """BREAK and SysRq on a telnet-framed line; attach, detach and every change of the lock."""
    path = tmp_path / "telnet.sock"
    peer = ConsolePeer(path)
    await peer.start()
    hub = make_hub(f"unix://{path}?telnet=1")
    try:
        alice = await hub.attach("vm", who="alice", role=Role.OPERATOR, source="192.0.2.7", wait=5)
        await hub.send_break(alice)
        await peer.wait_for(lambda got: IAC_BRK in got)
        await hub.sysrq(alice, "h")
        await peer.wait_for(lambda got: got.endswith(IAC_BRK + b"h"))
        bob = await hub.attach("vm", who="bob", role=Role.OPERATOR, source="198.51.100.4")
        assert await hub.request_lock(bob) is False
        await hub.hand_over(alice)
        carol = await hub.attach("vm", who="carol", role=Role.ADMIN)
        await hub.take_lock(carol)
        await hub.detach(carol)
        await hub.detach(alice)
        assert await hub.detach_idle(0) == [bob]
    finally:
        await hub.close()
        await peer.stop()
    _, events = cast_lines(recording_path("vm"))
    assert markers_of(events) == [
        "connected",
        "alice@192.0.2.7 attached (operator)",
        "alice@192.0.2.7 took the write lock",
        "alice@192.0.2.7 sent BREAK",
        "alice@192.0.2.7 sent SysRq h",
        "bob@198.51.100.4 attached (operator)",
        "alice@192.0.2.7 handed the write lock to bob@198.51.100.4",
        "carol attached (admin)",
        "carol took the write lock from bob@198.51.100.4",
        "carol released the write lock",
        "carol detached",
        "alice@192.0.2.7 detached",
        "bob@198.51.100.4 detached: no input for 0 s (idle timeout)",
    ]
    transcript = transcript_text("vm")
    for marker in markers_of(events):
        assert f"\r\n[console-tui] {marker}\r\n" in transcript
    assert output_of(events) == transcript


async def test_nmi_reset_and_reconnect_are_marked_and_a_failure_too(tmp_path: Path) -> None:
    """A real QEMU, stopped before its first instruction, gives a serial socket and a QMP socket."""
    need_command("qemu-system-x86_64")
    serial, qmp = tmp_path / "serial.sock", tmp_path / "qmp.sock"
    qemu = subprocess.Popen(
        [
            "qemu-system-x86_64",
            *("-machine", "pc", "-nodefaults", "-display", "none", "-S"),
            *("-serial", f"unix:{serial},server=on,wait=off"),
            *("-qmp", f"unix:{qmp},server=on,wait=off"),
        ]
    )
    try:
        async with asyncio.timeout(30):
            while not (serial.exists() and qmp.exists()):
                assert qemu.poll() is None, "QEMU exited before it was ready"
                await asyncio.sleep(0.05)
        hub = make_hub(f"unix://{serial}", control=f"qmp://{qmp}")
        try:
            alice = await hub.attach("vm", who="alice", source="192.0.2.7", wait=10)
            await hub.nmi(alice)
            await hub.reset(alice)
            await hub.reconnect(alice)
            await hub.session("vm").wait_ready(10)  # type: ignore[union-attr]
            qemu.terminate()
            qemu.wait(30)
            with pytest.raises(UnreachableError):
                await hub.nmi(alice)
        finally:
            await hub.close()
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
    _, events = cast_lines(recording_path("vm"))
    markers = markers_of(events)
    assert markers[:6] == [
        "connected",
        "alice@192.0.2.7 attached (admin)",
        "alice@192.0.2.7 took the write lock",
        "alice@192.0.2.7 sent NMI",
        "alice@192.0.2.7 sent reset",
        "reconnecting on request of alice@192.0.2.7",
    ]
    assert "reconnected" in markers
    assert any(m.startswith("disconnected: ") for m in markers), markers
    failed = [m for m in markers if m.startswith("alice@192.0.2.7 sent NMI: failed (")]
    assert len(failed) == 1 and str(qmp) in failed[0]


@pytest.mark.guest
def test_a_sysrq_on_the_demo_guest_is_marked_before_the_kernel_answers(guest: Any) -> None:
    sent = cli("--config", str(guest.config_path), "send", "demo", "--sysrq", "h")
    assert sent.returncode == 0, sent.stderr
    result = cli("log", "demo", "--cast")
    assert result.returncode == 0, result.stderr
    _, *events = (json.loads(line) for line in result.stdout.splitlines())
    marks = [i for i, (_, kind, text) in enumerate(events) if kind == "m" and "SysRq" in text]
    assert len(marks) == 1 and events[marks[0]][2].endswith(" sent SysRq h"), events
    assert "sysrq: HELP" in output_of(events[marks[0] :])
    assert "sysrq: HELP" not in output_of(events[: marks[0]])


# -- the files ------------------------------------------------------------------------------


async def test_the_recording_is_private_and_rotates_with_the_transcript(
    socat_console: tuple[SocatListener, str],
) -> None:
    console, uri = socat_console
    hub = make_hub(uri, settings="[settings]\ntranscript_max_bytes = 4096\ntranscript_files = 3\n")
    lines = b"".join(f"line {i:05d} é\r\n".encode() for i in range(1500))
    try:
        me = await hub.attach("vm", who="alice", wait=5)
        for start in range(0, len(lines), 1000):
            await console.send(lines[start : start + 1000])
        await seen(me, b"line 01499")
    finally:
        await hub.close()
    logs = transcript_files(transcript_path("vm"))
    casts = transcript_files(recording_path("vm"))
    assert [p.name for p in logs] == ["vm.log.2", "vm.log.1", "vm.log"]
    assert [p.name for p in casts] == ["vm.cast.2", "vm.cast.1", "vm.cast"]
    for log, cast in zip(logs, casts, strict=True):
        header, events = cast_lines(cast)
        assert header["version"] == 2, f"{cast.name} plays on its own"
        assert output_of(events) == log.read_bytes().decode(), f"{cast.name} covers {log.name}"
        assert stat.S_IMODE(cast.stat().st_mode) == 0o600
    assert stat.S_IMODE(recording_path("vm").parent.stat().st_mode) == 0o700


def test_a_recording_is_continued_and_a_broken_file_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "vm.cast"
    first = Recording(path, columns=80, rows=24, clock=lambda: 1000.5)
    first.output(b"one\r\n")
    first.close()
    with open(path, "ab") as handle:
        handle.write(b'[0.9, "o", "cut sh')
    second = Recording(path, columns=100, rows=30, clock=lambda: 1010.25)
    second.output(b"two\r\n")
    second.close()
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["timestamp"] == 1000
    assert lines[1:] == [
        '[0.5, "o", "one\\r\\n"]',
        '[0.9, "o", "cut sh',
        '[10.25, "r", "100x30"]',
        '[10.25, "o", "two\\r\\n"]',
    ]
    path.write_text("not a recording\n")
    Recording(path, clock=lambda: 2000.0).close()
    assert (tmp_path / "vm.cast.unreadable").read_text() == "not a recording\n"
    assert json.loads(path.read_text().splitlines()[0])["timestamp"] == 2000


# -- log --cast and log --since -------------------------------------------------------------


async def test_log_cast_plays_in_asciinema_as_the_transcript_reads(
    socat_console: tuple[SocatListener, str], tmp_path: Path
) -> None:
    console, uri = socat_console
    hub = make_hub(uri)
    try:
        me = await hub.attach("vm", who="alice", wait=5)
        await console.send("\x1b[32mgreen\x1b[0m grüße\r\n".encode())
        await seen(me, b"\r\n")
        await console.send(b"second line\r\n")
        await seen(me, b"second line\r\n")
    finally:
        await hub.close()
    result = cli("log", "vm", "--cast")
    assert result.returncode == 0, result.stderr
    cast = tmp_path / "vm.cast"
    cast.write_bytes(result.stdout)
    header = json.loads(result.stdout.splitlines()[0])
    assert header["version"] == 2 and result.stdout.splitlines()[1].startswith(b"[0.0, ")
    expected = b"".join(read_transcript(transcript_path("vm")))
    asciinema = f"{sys.executable} -m asciinema"
    assert in_a_terminal(f"{asciinema} cat {cast}") == expected
    assert in_a_terminal(f"{asciinema} play -s 50 {cast}") == expected


def write_known_recording(name: str, now: float) -> None:
    """A recording with output 2 h, 30 min, 10 min and 30 s ago, and a resize 1 h ago."""
    moments = iter([now - 7200, now - 7200, now - 3600, now - 1800, now - 600, now - 30])
    recording = Recording(recording_path(name), clock=lambda: next(moments))
    recording.output(b"two hours ago\r\n")
    recording.resize(100, 30)
    recording.output(b"half an hour ago\r\n")
    recording.output(b"ten minutes ago\r\n")
    recording.output(b"just now\r\n")
    recording.close()


@pytest.mark.parametrize("since", ["20m", "1200s", "0.5h", "iso"])
def test_log_since_limits_the_text_and_the_cast(since: str) -> None:
    now = time.time()
    write_known_recording("vm", now)
    if since == "iso":
        since = datetime.fromtimestamp(now - 1200).isoformat(timespec="seconds")
    text = cli("log", "vm", "--since", since)
    assert text.returncode == 0, text.stderr
    assert text.stdout == b"ten minutes ago\r\njust now\r\n"
    cast = cli("log", "vm", "--cast", "--since", since)
    assert cast.returncode == 0, cast.stderr
    header, *events = (json.loads(line) for line in cast.stdout.splitlines())
    assert (header["width"], header["height"]) == (100, 30), "the size in force at the start"
    assert header["timestamp"] == int(now - 600)
    assert events == [[0.0, "o", "ten minutes ago\r\n"], [570.0, "o", "just now\r\n"]]


def test_log_cast_covers_everything_and_an_empty_range_still_plays() -> None:
    now = time.time()
    write_known_recording("vm", now)
    whole = cli("log", "vm", "--cast")
    header, *events = (json.loads(line) for line in whole.stdout.splitlines())
    assert (header["width"], header["height"], header["timestamp"]) == (80, 24, int(now - 7200))
    assert [kind for _, kind, _ in events] == ["o", "r", "o", "o", "o"]
    assert [at for at, _, _ in events] == [0.0, 3600.0, 5400.0, 6600.0, 7170.0]
    empty = cli("log", "vm", "--cast", "--since", "10s")
    assert empty.returncode == 0 and len(empty.stdout.splitlines()) == 1
    assert json.loads(empty.stdout)["version"] == 2


@pytest.mark.parametrize("value", ["yesterday", "10 minutes", "-5m", "12:00:99"])
def test_a_bad_since_is_a_usage_error_naming_the_forms(value: str) -> None:
    write_known_recording("vm", time.time())
    result = cli("log", "vm", f"--since={value}")
    assert result.returncode == 2
    error = result.stderr.decode()
    assert f"--since: cannot read the time {value!r}" in error
    assert "30s, 10m, 2h, 1d" in error and "ISO time" in error
    assert result.stdout == b""


def test_log_cast_without_a_recording_says_how_to_get_one() -> None:
    result = cli("log", "vm", "--cast")
    assert result.returncode == 2
    assert "no recording for 'vm' yet" in result.stderr.decode()
    assert "open the target once" in result.stderr.decode()


async def test_log_cast_follow_streams_new_events(tmp_path: Path) -> None:
    moments = iter([1000.0, 1001.0, 1002.5])
    recording = Recording(recording_path("vm"), clock=lambda: next(moments))
    recording.output(b"before\r\n")
    recording.flush()  # as it would be within FLUSH_DELAY
    follower = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console_tui",
        "log",
        "vm",
        "--cast",
        "--follow",
        stdout=asyncio.subprocess.PIPE,
    )
    assert follower.stdout is not None
    try:
        async with asyncio.timeout(20):
            assert json.loads(await follower.stdout.readline())["timestamp"] == 1001
            assert json.loads(await follower.stdout.readline()) == [0.0, "o", "before\r\n"]
            recording.output(b"after\r\n")
            recording.flush()
            assert json.loads(await follower.stdout.readline()) == [1.5, "o", "after\r\n"]
    finally:
        recording.close()
        follower.terminate()
        await follower.wait()

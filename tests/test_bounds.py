"""What a remote party sends cannot exhaust the server: window sizes, input to a console that does
not read, title reports, and waiting for a console that just came back.

The consoles are real unix sockets served in this process: one that echoes nothing and can hold
off reading (a hung guest), one that records what it gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from console_tui.core import config, keys
from console_tui.core import session as session_mod
from console_tui.core.api import Event, Viewer
from console_tui.core.audit import audit_path
from console_tui.core.backings import make_backing
from console_tui.core.backings._stream import ANSWER_BACKLOG, READ_SIZE, YIELD_EVERY
from console_tui.core.config import Role
from console_tui.core.errors import NotPermittedError, UnreachableError
from console_tui.core.hub import Hub
from console_tui.core.hubwire import HubService, RemoteHub
from console_tui.core.screen import MAX_COLUMNS, MAX_ROWS, available_backends, make_screen
from console_tui.core.session import WRITE_BACKLOG, SessionState

MIB = 1 << 20


class HeldConsole:
    """A console line that reads nothing until `release()`, then records all it is sent."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.received = bytearray()
        self.released = asyncio.Event()
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self._client, path=str(self.path))

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        await self.released.wait()
        while data := await reader.read(1 << 16):
            self.received += data

    async def send(self, data: bytes) -> None:
        async with asyncio.timeout(5):
            while not self.writers:
                await asyncio.sleep(0.01)
        self.writers[-1].write(data)
        await self.writers[-1].drain()

    async def wait_received(self, done: object, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not done(bytes(self.received)):  # type: ignore[operator]
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path: a unix socket path holds at most 107 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="ctui-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def console(short_dir: Path) -> AsyncIterator[HeldConsole]:
    held = HeldConsole(short_dir / "vm.sock")
    await held.start()
    yield held
    await held.stop()


def hub_for(path: Path) -> Hub:
    return Hub(config.parse(f'[[target]]\nname = "vm"\nconsole = "unix://{path}"\n'))


async def notice(viewer: Viewer, words: str) -> Event:
    async with asyncio.timeout(5):
        while True:
            event = await viewer.queue.get()
            if event.kind == "notice" and words in event.text:
                return event


# -- window sizes (item 1) -------------------------------------------------------------------


@pytest.mark.parametrize("backend", available_backends())
def test_a_screen_is_never_larger_than_its_bound(backend: str) -> None:
    screen = make_screen(1000, 700, backend=backend)
    assert screen.size == (MAX_COLUMNS, MAX_ROWS)
    screen.resize(80, 24)
    screen.resize(1000, 700)
    assert screen.size == (MAX_COLUMNS, MAX_ROWS)
    assert len(screen.display()) == MAX_ROWS


async def test_only_the_writer_sizes_the_shared_screen_and_never_past_the_bound(
    console: HeldConsole,
) -> None:
    hub = hub_for(console.path)
    try:
        watcher = await hub.attach("vm", who="eve", role=Role.VIEWER, write=False, wait=5)
        session = hub.sessions["vm"]
        await hub.resize(watcher, 1000, 700)
        assert session.screen.size == (80, 24), "a viewer without the write lock sizes nothing"
        writer = await hub.attach("vm", who="op", role=Role.OPERATOR, wait=5)
        other = await hub.attach("vm", who="bob", role=Role.OPERATOR, wait=5)
        await hub.resize(other, 132, 43)
        assert session.screen.size == (80, 24), "nor does an operator without it"
        await hub.resize(writer, 1000, 700)
        assert session.screen.size == (MAX_COLUMNS, MAX_ROWS)
        said = await notice(writer, "at most")
        assert "1000x700" in said.text and f"{MAX_COLUMNS}x{MAX_ROWS}" in said.text
        await hub.hand_over(writer, other.id)
        assert session.screen.size == (132, 43), "the new writer's window applies"
    finally:
        await hub.close()


async def test_sync_size_types_the_size_the_screen_took(console: HeldConsole) -> None:
    console.released.set()
    hub = hub_for(console.path)
    try:
        writer = await hub.attach("vm", who="op", role=Role.OPERATOR, wait=5)
        await hub.sync_size(writer, 900, 40)
        await console.wait_received(lambda got: b"\r" in got)
        assert bytes(console.received) == f"stty rows 40 cols {MAX_COLUMNS}\r".encode()
    finally:
        await hub.close()


# -- input a console does not take (item 7) ----------------------------------------------------


async def test_input_waiting_for_a_console_is_bounded_and_nothing_accepted_is_lost(
    console: HeldConsole,
) -> None:
    hub = hub_for(console.path)
    try:
        viewer = await hub.attach("vm", who="op", role=Role.OPERATOR, wait=5)
        chunks = [bytes((65 + n % 26,)) * MIB for n in range(3 * WRITE_BACKLOG // MIB)]
        tasks = [asyncio.create_task(hub.write(viewer, chunk)) for chunk in chunks]
        done, _ = await asyncio.wait(tasks, timeout=10, return_when=asyncio.FIRST_EXCEPTION)
        assert done, "input past the bound is refused at once, not queued"
        refused = [n for n, task in enumerate(tasks) if task.done() and task.exception()]
        accepted = [n for n in range(len(tasks)) if n not in refused]
        assert refused and sum(len(chunks[n]) for n in accepted) <= WRITE_BACKLOG
        error = tasks[refused[0]].exception()
        assert isinstance(error, NotPermittedError)
        assert "not taking input" in str(error) and "vm" in error.where and error.fix
        with pytest.raises(NotPermittedError, match="at once is more than a console takes"):
            await hub.write(viewer, b"y" * (WRITE_BACKLOG + 1))
        console.released.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert [n for n, r in enumerate(results) if r is not None] == refused
        expected = b"".join(chunks[n] for n in accepted)
        await console.wait_received(lambda got: len(got) >= len(expected))
        assert bytes(console.received) == expected, "every accepted byte, in order"
        await hub.write(viewer, b"after")
        await console.wait_received(lambda got: got.endswith(b"after"))
    finally:
        await hub.close()


async def test_calls_queued_over_the_hub_wire_are_bounded(
    console: HeldConsole, short_dir: Path
) -> None:
    """An app process sending pastes to a console that never reads gets refusals, and the
    server queues no more than its bound."""
    hub = hub_for(console.path)
    service = HubService(hub, short_dir / "run" / "hub.sock")
    await service.start()
    remote = await RemoteHub.connect(service.path, "")
    try:
        viewer = await remote.attach("vm", wait=5)
        chunks = [bytes((65 + n,)) * MIB for n in range(20)]
        tasks = [asyncio.create_task(remote.write(viewer, chunk)) for chunk in chunks]
        done, _ = await asyncio.wait(tasks, timeout=20, return_when=asyncio.FIRST_EXCEPTION)
        assert done, "calls past the bound are refused while the console does not read"
        console.released.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        refused = [r for r in results if r is not None]
        assert refused and all(isinstance(r, NotPermittedError) for r in refused)
        assert "not taking input" in str(refused[0]) and "MiB" in str(refused[0])
        expected = b"".join(chunk for chunk, r in zip(chunks, results, strict=True) if r is None)
        await console.wait_received(lambda got: len(got) >= len(expected))
        assert bytes(console.received) == expected, "every accepted call, in order"
    finally:
        await remote.close()
        await service.close()
        await hub.close()


def test_a_sysrq_plan_is_bounded() -> None:
    with pytest.raises(ValueError, match="at most 32"):
        keys.sysrq_plan("h" * 1000)
    with pytest.raises(ValueError, match="pause"):
        keys.sysrq_plan("hh", pause=1e9)


# -- text reports (item 6) ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", available_backends())
def test_title_and_icon_reports_are_not_answered(backend: str) -> None:
    replies: list[bytes] = []
    screen = make_screen(80, 24, backend=backend, on_reply=replies.append)
    screen.feed(b"\x1b]2;reboot\r\x07\x1b[21t\x1b]1;halt\x07\x1b[20t\x1b]0;both\x07\x1b[21t")
    screen.feed(b"\x1b[6n")
    assert replies == [b"\x1b[1;1R"], "only the cursor report"
    assert screen.title == "both"


async def test_console_output_cannot_type_its_title_into_the_console(
    console: HeldConsole,
) -> None:
    console.released.set()
    hub = hub_for(console.path)
    try:
        await hub.open("vm", wait=5)
        await console.send(b"\x1b]2;rm -rf /\x07\x1b[21t\x1b[20t\x1b[6n")
        await console.wait_received(lambda got: got.endswith(b"R"))
        assert bytes(console.received) == b"\x1b[1;1R"
    finally:
        await hub.close()


# -- waiting for a console (item 11) ------------------------------------------------------------


@pytest.fixture
def long_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """A session that failed waits a long time before it tries again."""
    monkeypatch.setattr(session_mod, "BACKOFF_FIRST", 60.0)
    monkeypatch.setattr(session_mod, "BACKOFF_MAX", 60.0)


async def wait_state(hub: Hub, state: SessionState) -> None:
    async with asyncio.timeout(5):
        while (session := hub.sessions.get("vm")) is None or session.state is not state:
            await asyncio.sleep(0.01)


async def test_attach_right_after_a_console_returns_connects_now(
    short_dir: Path, long_backoff: None
) -> None:
    path = short_dir / "vm.sock"
    hub = hub_for(path)
    returned = HeldConsole(path)
    try:
        await hub.open("vm")
        await wait_state(hub, SessionState.UNREACHABLE)
        await returned.start()
        await hub.attach("vm", who="op", wait=8)
        assert hub.sessions["vm"].state is SessionState.CONNECTED
    finally:
        await hub.close()
        await returned.stop()


async def test_waiting_reports_the_latest_error(short_dir: Path, long_backoff: None) -> None:
    path = short_dir / "vm.sock"
    hub = hub_for(path)
    refusing = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        await hub.open("vm")
        await wait_state(hub, SessionState.UNREACHABLE)
        assert "does not exist" in hub.sessions["vm"].last_error
        refusing.bind(str(path))  # there, but not listening
        with pytest.raises(UnreachableError, match="connection refused"):
            await hub.attach("vm", who="op", wait=8)
    finally:
        refusing.close()
        await hub.close()


# -- the audit (item 12) ------------------------------------------------------------------------


async def test_lock_records_say_where_the_operator_is(console: HeldConsole) -> None:
    hub = hub_for(console.path)
    try:
        alice = await hub.attach("vm", who="alice", role=Role.OPERATOR, source="192.0.2.7", wait=5)
        bob = await hub.attach("vm", who="bob", role=Role.OPERATOR, source="198.51.100.9")
        await hub.request_lock(bob)
        await hub.hand_over(alice)
        await hub.detach(bob)
    finally:
        await hub.close()
    records = [json.loads(line) for line in audit_path().read_text().splitlines()]
    locks = [(r["who"], r["source"], r["action"]) for r in records if r["event"] == "lock"]
    assert locks == [
        ("alice", "192.0.2.7", "took"),
        ("bob", "198.51.100.9", "requested"),
        ("alice", "192.0.2.7", "handed to bob"),
        ("bob", "198.51.100.9", "released"),
    ]


# -- a console that floods its line (item 14) ---------------------------------------------------


class LoopTurns:
    """Counts the event loop's turns: other work gets one each time the loop runs its tasks."""

    def __init__(self, each: Callable[[], None] = lambda: None) -> None:
        self.count = 0
        self._each = each
        self._task = asyncio.create_task(self._turn())

    async def _turn(self) -> None:
        while True:
            await asyncio.sleep(0)
            self.count += 1
            self._each()

    async def stop(self) -> int:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return self.count


async def test_a_flood_of_telnet_commands_lets_other_work_run(console: HeldConsole) -> None:
    backing = make_backing(f"unix://{console.path}?telnet=1")
    await backing.open()
    try:
        flood = b"\xff\xf1" * (128 * 1024) + b"X"  # 256 KiB of IAC NOP, then one byte
        await console.send(flood)  # all of it waits in the socket and the reader's buffer
        turns = LoopTurns()
        assert await backing.read() == b"X"
        assert await turns.stop() >= len(flood) // YIELD_EVERY // 2
    finally:
        await backing.close()


async def test_a_console_flooding_output_lets_other_work_run(console: HeldConsole) -> None:
    backing = make_backing(f"unix://{console.path}")
    await backing.open()
    try:
        flood = b"".join(b"line %06d of a console that does not stop\r\n" % n for n in range(6000))
        await console.send(flood)  # all of it waits in the socket and the reader's buffer
        consumed = 0
        consumed_at_turns = [0]
        turns = LoopTurns(lambda: consumed_at_turns.append(consumed))
        while consumed < len(flood):
            consumed += len(await backing.read())
        await turns.stop()
        longest = max(b - a for a, b in itertools.pairwise([*consumed_at_turns, consumed]))
        assert longest <= YIELD_EVERY + READ_SIZE, "bytes read with no other work in between"
    finally:
        await backing.close()


async def test_telnet_answers_to_a_server_that_never_reads_are_bounded(
    console: HeldConsole,
) -> None:
    backing = make_backing(f"unix://{console.path}?telnet=1")
    await backing.open()
    try:
        requests = b"\xff\xfb\x63" * (700 * 1024) + b"X"  # 2 MiB of WILL 99, each refused
        sender = asyncio.create_task(console.send(requests))
        assert await backing.read() == b"X"
        waiting = backing._writer.transport.get_write_buffer_size()  # type: ignore[attr-defined]
        assert waiting <= ANSWER_BACKLOG + READ_SIZE
        await sender
    finally:
        await backing.close()

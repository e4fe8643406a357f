"""The Hub and Session against a real unix-socket peer playing a console.

The peer is peers.py's ConsolePeer, a plain socket server in this process (a console that records
what it gets and can hang up); the demo-guest tests cover a real kernel. These tests pin the
multi-operator rules: shared output, one writer, roles, reconnect with a continuous transcript,
and slow viewers that never block the line.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import next_event, notice_until, output_until, state_until
from peers import ConsolePeer

from console_tui.core import config
from console_tui.core.api import VIEWER_QUEUE, Event, Viewer
from console_tui.core.audit import audit_path
from console_tui.core.errors import NotPermittedError, UnreachableError
from console_tui.core.hub import Hub
from console_tui.core.transcript import read_transcript


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[ConsolePeer]:
    """A console that records what it receives and answers nothing."""
    async with ConsolePeer(tmp_path / "console.sock") as console:
        yield console


def make_hub(peer: ConsolePeer, extra: str = "") -> Hub:
    text = f'[[target]]\nname = "vm"\nconsole = "unix://{peer.path}"\n{extra}'
    return Hub(config.parse(text))


async def test_viewers_share_output_and_a_late_viewer_gets_the_screen(peer: ConsolePeer) -> None:
    hub = make_hub(peer)
    try:
        alice = await hub.attach("vm", who="alice", wait=5)
        bob = await hub.attach("vm", who="bob", role="operator")
        await peer.send(b"hello from the guest\r\n")
        await output_until(alice, b"hello from the guest")
        await output_until(bob, b"hello from the guest")
        late = await hub.attach("vm", who="carol", role="viewer")
        snapshot = await next_event(late, "snapshot")
        from console_tui.core.screen import make_screen

        screen = make_screen(80, 24)
        screen.feed(snapshot.data)
        assert screen.display()[0].rstrip() == "hello from the guest"
        assert peer.connections == 1, "one connection to the console, however many viewers"
    finally:
        await hub.close()


async def test_only_the_lock_holder_writes(peer: ConsolePeer) -> None:
    hub = make_hub(peer)
    try:
        alice = await hub.attach("vm", who="alice", role="operator", wait=5)
        bob = await hub.attach("vm", who="bob", role="operator")
        assert hub.status("vm").writer == "alice"
        await hub.write(alice, b"from alice\r")
        await peer.wait_received(b"from alice\r")
        with pytest.raises(NotPermittedError) as info:
            await hub.write(bob, b"from bob\r")
        assert "alice holds the write lock" in str(info.value)
        assert b"from bob" not in peer.received

        assert await hub.request_lock(bob) is False
        await notice_until(alice, "bob asks for the write lock")
        await hub.hand_over(alice)
        assert hub.status("vm").writer == "bob"
        await notice_until(bob, "alice handed you the write lock")
        await hub.write(bob, b"from bob\r")
        await peer.wait_received(b"from bob\r")
    finally:
        await hub.close()


async def test_admin_takes_the_lock_and_the_holder_is_told(peer: ConsolePeer) -> None:
    hub = make_hub(peer)
    try:
        op = await hub.attach("vm", who="op", role="operator", wait=5)
        other = await hub.attach("vm", who="other", role="operator")
        admin = await hub.attach("vm", who="root", role="admin")
        with pytest.raises(NotPermittedError):
            await hub.take_lock(other)
        await hub.take_lock(admin)
        assert hub.status("vm").writer == "root"
        await notice_until(op, "root (admin) took the write lock")
        assert op.id in hub.session("vm").viewers, "nobody is silently disconnected"
    finally:
        await hub.close()


async def test_a_viewer_never_writes_breaks_or_resets(peer: ConsolePeer) -> None:
    hub = make_hub(peer, 'control = "qmp:///nonexistent.qmp"\n')
    try:
        watcher = await hub.attach("vm", who="eve", role="viewer", wait=5)
        for call in (
            hub.write(watcher, b"x"),
            hub.send_break(watcher),
            hub.sysrq(watcher, "h"),
            hub.nmi(watcher),
            hub.reset(watcher),
        ):
            with pytest.raises(NotPermittedError) as info:
                await call
            assert "a viewer cannot" in str(info.value)
        with pytest.raises(NotPermittedError):
            await hub.write(watcher, b"typing on")
        assert peer.received == b""
        denied = [json.loads(x) for x in audit_path().read_text().splitlines() if '"denied"' in x]
        assert len(denied) == 5 and denied[0]["who"] == "eve", "one record per action, not per key"
    finally:
        await hub.close()


async def test_break_on_a_raw_socket_is_refused_with_the_reason(peer: ConsolePeer) -> None:
    hub = make_hub(peer)
    try:
        me = await hub.attach("vm", who="me", wait=5)
        capability = hub.can_break("vm")
        assert not capability.ok and "raw socket" in capability.reason
        with pytest.raises(NotPermittedError) as info:
            await hub.send_break(me)
        assert "cannot send BREAK" in str(info.value) and "raw socket" in str(info.value)
        assert not hub.can_control("vm").ok
    finally:
        await hub.close()


async def test_reconnects_by_itself_and_the_transcript_is_continuous(peer: ConsolePeer) -> None:
    hub = make_hub(peer)
    try:
        me = await hub.attach("vm", who="me", wait=5)
        await peer.send(b"before\r\n")
        await output_until(me, b"before")
        await peer.hang_up()
        assert (await next_event(me, "state")).text == "reconnecting"
        await state_until(me, "connected", timeout=10)
        await peer.send(b"after\r\n")
        await output_until(me, b"after")
        assert peer.connections == 2
        transcript = b"".join(read_transcript(hub.session("vm").transcript_path))
        assert (
            transcript.index(b"before")
            < transcript.index(b"reconnected")
            < transcript.index(b"after")
        )
    finally:
        await hub.close()


async def test_unreachable_target_says_why(tmp_path: Path) -> None:
    hub = Hub(config.parse(f'[[target]]\nname = "gone"\nconsole = "unix://{tmp_path}/no.sock"\n'))
    try:
        with pytest.raises(UnreachableError) as info:
            await hub.attach("gone", who="me", wait=2)
        assert "does not exist" in str(info.value) and "no.sock" in str(info.value)
        assert info.value.exit_code == 3
        assert hub.status("gone").state == "unreachable"
    finally:
        await hub.close()


async def test_a_slow_viewer_drops_frames_and_never_blocks(peer: ConsolePeer) -> None:
    hub = make_hub(peer)
    try:
        fast = await hub.attach("vm", who="fast", wait=5)
        slow = await hub.attach("vm", who="slow", role="viewer")
        count = VIEWER_QUEUE * 3
        lines = b"".join(b"line %05d\r\n" % i for i in range(count))
        for start in range(0, len(lines), 11):
            await peer.send(lines[start : start + 11])
            await asyncio.sleep(0)
            while not fast.queue.empty():
                fast.queue.get_nowait()
        await output_until(fast, b"line %05d" % (count - 1), timeout=15)
        assert slow.queue.qsize() <= VIEWER_QUEUE
        assert slow.dropped > 0
        kinds = []
        while not slow.queue.empty():
            kinds.append(slow.queue.get_nowait().kind)
        assert "snapshot" in kinds, "a viewer that fell behind starts over from a snapshot"
        transcript = b"".join(read_transcript(hub.session("vm").transcript_path))
        assert lines in transcript, "the transcript lost nothing"
    finally:
        await hub.close()


async def test_guest_questions_are_answered_once(peer: ConsolePeer) -> None:
    hub = make_hub(peer)
    try:
        await hub.attach("vm", who="a", wait=5)
        await hub.attach("vm", who="b", role="viewer")
        await peer.send(b"abc\x1b[6n")
        await peer.wait_received(b"\x1b[1;4R")
        await asyncio.sleep(0.2)
        assert peer.received.count(b"R") == 1
    finally:
        await hub.close()


async def test_on_detach_logs_out_when_the_last_writer_leaves(peer: ConsolePeer) -> None:
    hub = make_hub(peer, 'on_detach = "exit\\r"\n')
    try:
        writer = await hub.attach("vm", who="op", role="operator", wait=5)
        watcher = await hub.attach("vm", who="w", role="viewer")
        await hub.detach(writer)
        await peer.wait_received(b"exit\r")
        await hub.detach(watcher)
        await asyncio.sleep(0.1)
        assert peer.received.count(b"exit\r") == 1
    finally:
        await hub.close()


async def test_audit_records_attach_lock_and_detach(peer: ConsolePeer) -> None:
    hub = make_hub(peer)
    try:
        me = await hub.attach("vm", who="alice", source="192.0.2.1", wait=5)
        await hub.write(me, b"secret-password\r")
        await hub.write(me, b"pasted-secret\r", paced=True)
        await hub.detach(me)
    finally:
        await hub.close()
    text = audit_path().read_text()
    events = [json.loads(line)["event"] for line in text.splitlines()]
    assert events[:3] == ["connect", "attach", "lock"] and "detach" in events
    assert "secret-password" not in text, "keystrokes are never recorded"
    assert "pasted-secret" not in text
    (paste,) = [json.loads(line) for line in text.splitlines() if '"paste"' in line]
    assert paste["size"] == len(b"pasted-secret\r") and paste["who"] == "alice"


async def test_reconnect_on_request_drops_the_line_and_comes_back(peer: ConsolePeer) -> None:
    hub = make_hub(peer)
    try:
        me = await hub.attach("vm", who="op", role="operator", wait=5)
        watcher = await hub.attach("vm", who="w", role="viewer")
        with pytest.raises(NotPermittedError):
            await hub.reconnect(watcher)
        await hub.reconnect(me)
        await state_until(watcher, "reconnecting")
        await state_until(watcher, "connected")
        await peer.wait_connections(2)
        await peer.send(b"back\r\n")
        await output_until(me, b"back")
    finally:
        await hub.close()


async def test_a_batch_joins_output_keeps_order_and_stops_at_detach() -> None:
    viewer = Viewer(target="vm", who="me")
    for event in (
        Event("output", b"a"),
        Event("output", b"b"),
        Event("state", text="reconnecting"),
        Event("output", b"c"),
        Event("detached", text="bye"),
        Event("output", b"after"),
    ):
        viewer.deliver(event)
    batch = await viewer.batch()
    assert [(e.kind, e.data, e.text) for e in batch] == [
        ("output", b"ab", ""),
        ("state", b"", "reconnecting"),
        ("output", b"c", ""),
        ("detached", b"", "bye"),
    ]
    assert viewer.queue.qsize() == 1


async def test_probe_says_in_use_and_does_not_touch_a_line_another_hub_holds(
    peer: ConsolePeer,
) -> None:
    """A second Hub stands for a second console-tui process (the claim is a per-user file lock)."""
    first = make_hub(peer)
    second = make_hub(peer)
    try:
        await first.open("vm", wait=5)
        await peer.wait_connections(1)
        status = await second.probe("vm")
        assert status.state == "in use" and "console-tui pid" in status.detail
        await asyncio.sleep(0.1)
        assert peer.connections == 1, "the probe never connected"
        await first.close()
        assert (await second.probe("vm")).state == "reachable"
    finally:
        await first.close()
        await second.close()

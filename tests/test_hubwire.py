"""The Hub over its unix socket: a RemoteHub in this process against a HubService and a real
unix-socket console (peers.py's ConsolePeer, which records raw bytes)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import notice_until, output_until
from peers import ConsolePeer

from console_tui.core import config
from console_tui.core.config import Role
from console_tui.core.errors import ConsoleError, NotPermittedError, UnreachableError
from console_tui.core.hub import Hub
from console_tui.core.hubwire import HubService, Principal, RemoteHub

CONFIG = """
[[target]]
name = "web"
group = "prod"
console = "unix://{path}"

[[target]]
name = "lab"
group = "test"
console = "unix://{path}-lab"

[[user]]
name = "alice"
role = "operator"

[[user]]
name = "bob"
role = "operator"

[[user]]
name = "vic"
role = "viewer"
groups = ["prod"]

[[user]]
name = "root"
role = "admin"
"""


class Wire:
    """A Hub, its service, and a way to dial it as a configured user."""

    def __init__(self, hub: Hub, service: HubService) -> None:
        self.hub = hub
        self.service = service
        self.remotes: list[RemoteHub] = []

    def user(self, name: str) -> Principal:
        return Principal(next(u for u in self.hub.config.users if u.name == name), "192.0.2.7")

    async def dial(self, name: str) -> RemoteHub:
        remote = await RemoteHub.connect(
            self.service.path, self.service.issue_token(self.user(name))
        )
        self.remotes.append(remote)
        return remote


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[ConsolePeer]:
    async with ConsolePeer(tmp_path / "console.sock") as console:
        yield console


@pytest.fixture
async def wire(tmp_path: Path, peer: ConsolePeer) -> AsyncIterator[Wire]:
    hub = Hub(config.parse(CONFIG.format(path=tmp_path / "console.sock")))
    service = HubService(hub, tmp_path / "run" / "hub.sock")
    await service.start()
    wire = Wire(hub, service)
    yield wire
    for remote in wire.remotes:
        await remote.close()
    await service.close()
    await hub.close()


async def test_socket_is_private_and_tokens_are_single_use(wire: Wire) -> None:
    assert stat.S_IMODE(os.stat(wire.service.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(wire.service.path.parent).st_mode) == 0o700
    token = wire.service.issue_token(wire.user("alice"))
    remote = await RemoteHub.connect(wire.service.path, token)
    assert remote.who == "alice"
    await remote.close()
    with pytest.raises(NotPermittedError, match="token"):
        await RemoteHub.connect(wire.service.path, token)
    with pytest.raises(NotPermittedError, match="token"):
        await RemoteHub.connect(wire.service.path, "made-up")


async def test_identity_comes_from_the_token_not_the_request(wire: Wire) -> None:
    remote = await wire.dial("vic")
    viewer = await remote.attach("web", who="root", role="admin", source="local", wait=5)
    assert (viewer.who, viewer.role, viewer.source) == ("vic", "viewer", "192.0.2.7")
    with pytest.raises(NotPermittedError, match="viewer cannot type"):
        await remote.write(viewer, b"reboot\r")
    with pytest.raises(NotPermittedError, match="viewer cannot send SysRq"):
        await remote.sysrq(viewer, "b")
    with pytest.raises(NotPermittedError, match="viewer cannot"):
        await remote.send_break(viewer)


async def test_groups_limit_what_a_user_sees_and_opens(wire: Wire) -> None:
    vic = await wire.dial("vic")
    assert [t.name for t in vic.targets()] == ["web"]
    with pytest.raises(NotPermittedError, match="no target named 'lab'"):
        await vic.attach("lab", who="vic", role=Role.VIEWER)
    alice = await wire.dial("alice")
    assert [t.name for t in alice.targets()] == ["web", "lab"]


async def test_two_operators_share_output_over_one_console_connection(
    wire: Wire, peer: ConsolePeer
) -> None:
    alice, bob = await wire.dial("alice"), await wire.dial("bob")
    a = await alice.attach("web", wait=5)
    b = await bob.attach("web", wait=5)
    await peer.send(b"login: ")
    await output_until(a, b"login: ")
    await output_until(b, b"login: ")
    session = wire.hub.session("web")
    assert session is not None and len(session.viewers) == 2
    await alice.refresh()
    assert alice.status("web").writer_id == a.id
    await bob.refresh()
    status = bob.status("web")
    assert status.writer_id == a.id and status.writer == "alice@192.0.2.7"
    assert "bob@192.0.2.7 (operator)" in status.attached


async def test_only_the_lock_holder_types_and_the_lock_moves_on_request(
    wire: Wire, peer: ConsolePeer
) -> None:
    alice, bob = await wire.dial("alice"), await wire.dial("bob")
    a = await alice.attach("web", wait=5)
    b = await bob.attach("web", wait=5)
    for n in range(50):
        await alice.write(a, f"{n},".encode())
    expected = "".join(f"{n}," for n in range(50)).encode()
    assert await peer.wait_for(lambda got: expected in got) == expected, "in order, nothing else"
    with pytest.raises(NotPermittedError, match=r"alice@192\.0\.2\.7 holds the write lock"):
        await bob.write(b, b"x")
    assert not await bob.request_lock(b)
    await notice_until(a, "bob@192.0.2.7 asks for the write lock")
    given = await alice.hand_over(a)
    assert given is not None and given.id == b.id
    await notice_until(b, "handed you the write lock")
    await bob.write(b, b"!")
    await peer.wait_for(lambda got: got.endswith(b"!"))


async def test_closing_the_connection_detaches_its_viewers(wire: Wire) -> None:
    alice = await wire.dial("alice")
    await alice.attach("web", wait=5)
    session = wire.hub.session("web")
    assert session is not None and len(session.viewers) == 1
    await alice.close()
    async with asyncio.timeout(5):
        while session.viewers:
            await asyncio.sleep(0.02)
    assert session.lock_holder is None


async def test_idle_operators_are_detached_and_told(wire: Wire) -> None:
    alice = await wire.dial("alice")
    viewer = await alice.attach("web", wait=5)
    server_side = wire.hub.session("web").viewers[viewer.id]  # type: ignore[union-attr]
    server_side.last_input -= 120
    assert await wire.hub.detach_idle(60) == [server_side]
    assert "idle timeout" in await notice_until(viewer, "idle", kind="detached")


async def test_an_app_that_falls_behind_gets_a_fresh_snapshot(
    wire: Wire, peer: ConsolePeer
) -> None:
    alice = await wire.dial("alice")
    viewer = await alice.attach("web", wait=5)
    async with asyncio.timeout(10):
        n = 0
        while not viewer.dropped:
            n += 1
            await peer.send(f"line {n:05d}\r\n".encode())
            await asyncio.sleep(0.001)
    seen = await output_until(viewer, f"line {n:05d}".encode())
    assert b"line 00001" not in seen, "what was dropped is not replayed; the screen is"
    assert viewer.queue.empty()


def test_every_call_of_the_hub_api_is_carried_by_the_wire() -> None:
    """Adding a call to HubAPI without declaring it in HubOps fails here (close is local)."""
    import inspect

    from console_tui.core.api import HubAPI
    from console_tui.core.hubwire.ops import OPS

    calls = {
        name
        for name, member in vars(HubAPI).items()
        if inspect.iscoroutinefunction(member) and not name.startswith("_")
    }
    assert calls - {"close"} == set(OPS)


async def test_a_malformed_call_is_answered_with_what_was_wrong(wire: Wire) -> None:
    alice = await wire.dial("alice")
    viewer = await alice.attach("web", wait=5)
    with pytest.raises(ValueError, match="missing argument 'data'"):
        await alice._request("write", {"viewer": {"id": viewer.id}}, None)
    with pytest.raises(ValueError, match="expected int"):
        await alice._request(
            "resize", {"viewer": {"id": viewer.id}, "columns": [1], "rows": 24}, None
        )
    with pytest.raises(ConsoleError, match="unknown hub operation 'format_disk'"):
        await alice._request("format_disk", {}, None)
    with pytest.raises(UnreachableError, match="not attached"):
        await alice._request("send_break", {"viewer": {"id": viewer.id + 1000}}, None)
    await alice.write(viewer, b"still fine")

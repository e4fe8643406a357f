"""A line nobody watches leaves its output in the kernel between reads, and a viewer ends the wait.

The console is a real Unix socket peer. The gathering wait is made endless here, so only the
viewer attaching can end it: the test then needs no clock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from peers import ConsolePeer

from console_tui.core import session as session_module
from console_tui.core.api import Event, EventKind, Viewer
from console_tui.core.config import Target
from console_tui.core.session import Session


async def next_output(viewer: Viewer) -> Event:
    async with asyncio.timeout(20):
        while True:
            event = await viewer.queue.get()
            if event.kind in (EventKind.OUTPUT, EventKind.SNAPSHOT):
                return event


async def test_output_gathers_until_a_viewer_attaches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "UNWATCHED_GATHER", 3600.0)
    async with ConsolePeer(tmp_path / "vm.sock") as peer:
        session = Session(Target("vm", f"unix://{tmp_path}/vm.sock"))
        session.start()
        try:
            await session.wait_ready()
            first = b"boot: " + b"." * 300 + b"\r\n"
            await peer.send(first)
            async with asyncio.timeout(20):
                while b"boot: ." not in session.screen.display()[0].encode():
                    await asyncio.sleep(0.01)
            # Read while nobody watches: the line now gathers. What follows stays in the kernel.
            await peer.send(b"held one\r\n")
            await peer.send(b"held two\r\n")
            viewer = Viewer("vm", "alice")
            session.add_viewer(viewer)
            snapshot = await next_output(viewer)
            assert snapshot.kind is EventKind.SNAPSHOT
            assert b"boot: ." in snapshot.data and b"held" not in snapshot.data
            output = await next_output(viewer)
            assert output.data == b"held one\r\nheld two\r\n"
        finally:
            await session.close()

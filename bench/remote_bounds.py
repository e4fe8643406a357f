"""What one remote party can make the server hold: RSS before and after a huge window and a huge paste.

Each scenario runs in a fresh process, so one's memory does not hide the other's:

- resize: a read-only viewer, then the writer, ask for a 6000x6000 window (an SSH window-change
  request carries any size); the shared screen model must not grow past its bound.
- paste: an app process (a RemoteHub in a child process) sends 256 MiB in 1 MiB writes to a console
  that never reads; the server must refuse what it cannot pass on, not queue all of it.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.app_memory import rss_kib
from console_tui.core import config
from console_tui.core.config import Role
from console_tui.core.errors import ConsoleError
from console_tui.core.hub import Hub
from console_tui.core.hubwire import HubService

HUGE = (6000, 6000)
PASTE_WRITES = 256
WRITE_SIZE = 1 << 20
SETTLE = 3.0
"""Seconds the client waits for answers once all its calls are sent."""


async def silent_console(path: Path) -> asyncio.Server:
    """A console line that accepts a client and never reads from it (a hung guest)."""

    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    return await asyncio.start_unix_server(hold, path=str(path))


def hub_for(sock: Path) -> Hub:
    return Hub(config.parse(f'[[target]]\nname = "vm"\nconsole = "unix://{sock}"\n'))


async def resize_scenario(folder: Path) -> None:
    server = await silent_console(folder / "vm.sock")
    hub = hub_for(folder / "vm.sock")
    try:
        watcher = await hub.attach("vm", who="eve", role=Role.VIEWER, write=False, wait=5)
        gc.collect()
        before = rss_kib()
        for who, viewer in (("viewer", watcher), ("writer", None)):
            if viewer is None:
                viewer = await hub.attach("vm", who="op", role=Role.OPERATOR, wait=5)
            started = time.perf_counter()
            await hub.resize(viewer, *HUGE)
            took = time.perf_counter() - started
            session = hub.sessions["vm"]
            session.screen.snapshot()
            gc.collect()
            columns, rows = session.screen.size
            print(
                f"{who} asks {HUGE[0]}x{HUGE[1]}: screen {columns}x{rows}, "
                f"RSS +{(rss_kib() - before) / 1024:.0f} MiB, {took:.2f} s",
                flush=True,
            )
    finally:
        await hub.close()
        server.close()


CHILD = """
import asyncio, sys
from console_tui.core.errors import ConsoleError
from console_tui.core.hubwire import RemoteHub

async def main(path, writes, size, settle):
    hub = await RemoteHub.connect(path, "")
    viewer = await hub.attach("vm", wait=5)
    data = b"x" * size
    tasks = [asyncio.create_task(hub.write(viewer, data)) for _ in range(writes)]
    # Sent: every call is answered or written out and waiting for its answer.
    while (
        sum(t.done() for t in tasks) + len(hub._pending) < writes
        or hub._writer.transport.get_write_buffer_size()
    ):
        await asyncio.sleep(0.05)
    print("sent", flush=True)
    await asyncio.wait(tasks, timeout=settle)
    refused = [t.exception() for t in tasks if t.done() and isinstance(t.exception(), ConsoleError)]
    print(f"{len(refused)} refused, {writes - len(refused)} accepted or unanswered", flush=True)
    if refused:
        print(f"  e.g. {refused[-1]}", flush=True)
    hub._writer.transport.abort()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
"""


async def paste_scenario(folder: Path) -> None:
    server = await silent_console(folder / "vm.sock")
    hub = hub_for(folder / "vm.sock")
    service = HubService(hub, folder / "run" / "hub.sock")
    await service.start()
    child: asyncio.subprocess.Process | None = None
    try:
        await hub.open("vm", wait=5)
        gc.collect()
        before = rss_kib()
        child = await asyncio.create_subprocess_exec(
            *(sys.executable, "-c", CHILD, str(service.path)),
            *(str(PASTE_WRITES), str(WRITE_SIZE), str(SETTLE)),
            stdout=subprocess.PIPE,
        )
        assert child.stdout is not None
        said = asyncio.ensure_future(child.stdout.read())
        peak = before
        while not said.done():
            await asyncio.wait([said], timeout=0.2)
            peak = max(peak, rss_kib())
        lines = said.result().decode().splitlines()[1:]
        print(
            f"{PASTE_WRITES} x {WRITE_SIZE >> 20} MiB over the hub wire to a console that never "
            f"reads: server RSS +{(peak - before) / 1024:.0f} MiB at most",
            *lines,
            sep="\n  ",
            flush=True,
        )
    finally:
        if child is not None and child.returncode is None:
            child.kill()
            await child.wait()
        await service.close()
        await hub.close()
        server.close()


SCENARIOS = {"resize": resize_scenario, "paste": paste_scenario}


def run(name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        try:
            asyncio.run(SCENARIOS[name](Path(folder)))
        except ConsoleError as exc:
            print(f"{name}: {exc}")


def main() -> None:
    for name in SCENARIOS:
        subprocess.run([sys.executable, "-m", "bench.remote_bounds", name], check=True)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        run(sys.argv[1])
    else:
        main()

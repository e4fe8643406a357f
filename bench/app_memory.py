"""How much memory the app holds per open console: RSS with 1 and with 20 open sessions.

The app runs headless (`App.run_test`) in this process; 20 console peers run in another process,
each sending a boot log of about BOOT_LOG_BYTES on connect, so every session has a full screen and
scrollback. RSS is read from /proc/self/status after a garbage collection, once the app is up with
no console open, after the first tab, and after the twentieth.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import random
import tempfile
import time
from pathlib import Path

from bench.screen_throughput import dmesg
from console_tui.core import config as config_mod
from console_tui.ui.app import ConsoleApp
from console_tui.ui.screens.main import MainScreen

SESSIONS = 20
BOOT_LOG_BYTES = 200_000
SIZE = (160, 48)


def rss_kib() -> int:
    """This process's resident set size, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def boot_log(seed: int) -> bytes:
    rng = random.Random(seed)
    clock = [0.0]
    parts: list[str] = []
    total = 0
    while total < BOOT_LOG_BYTES:
        part = dmesg(rng, clock)
        parts.append(part)
        total += len(part)
    return "".join(parts).encode() + f"vm-{seed:02d} login: ".encode()


def console_peers(folder: str, count: int, ready: object) -> None:
    """The far ends, in their own process: each greets with its boot log, then echoes."""

    async def serve() -> None:
        async def one(seed: int) -> asyncio.Server:
            log = boot_log(seed)

            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                writer.write(log)
                try:
                    await writer.drain()
                    while data := await reader.read(4096):
                        writer.write(data)
                        await writer.drain()
                except ConnectionError:
                    pass
                writer.close()

            return await asyncio.start_unix_server(handle, f"{folder}/vm-{seed:02d}.sock")

        servers = [await one(seed) for seed in range(count)]
        ready.set()  # type: ignore[attr-defined]
        await asyncio.gather(*(server.serve_forever() for server in servers))

    asyncio.run(serve())


async def measure(folder: Path) -> list[tuple[int, int]]:
    """(open sessions, RSS KiB) after start, after one tab, after every tab."""
    config_path = folder / "config.toml"
    config_path.write_text(
        "".join(
            f'[[target]]\nname = "vm-{n:02d}"\nconsole = "unix://{folder}/vm-{n:02d}.sock"\n'
            for n in range(SESSIONS)
        )
    )
    config = config_mod.load(config_path)
    app = ConsoleApp(config, blink=False, probe=False)
    figures: list[tuple[int, int]] = []
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await pilot.pause()
        gc.collect()
        figures.append((0, rss_kib()))
        for n in range(SESSIONS):
            pane = await screen.open_target(f"vm-{n:02d}")
            prompt = f"vm-{n:02d} login:"
            deadline = time.monotonic() + 30
            while prompt not in pane.terminal.screen_text():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no {prompt!r} from its peer")
                await pilot.pause(0.02)
            await pilot.pause()
            if n in (0, SESSIONS - 1):
                gc.collect()
                figures.append((n + 1, rss_kib()))
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ctui-mem-", dir="/tmp") as folder:
        spawn = multiprocessing.get_context("spawn")
        ready = spawn.Event()
        peers = spawn.Process(target=console_peers, args=(folder, SESSIONS, ready), daemon=True)
        peers.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("the console peers did not start")
            figures = asyncio.run(measure(Path(folder)))
        finally:
            peers.kill()
            peers.join(5)
    baseline = figures[0][1]
    one, many = figures[1][1], figures[-1][1]
    print(f"{'open sessions':<16} {'RSS':>10} {'over no session':>16}")
    for sessions, kib in figures:
        print(f"{sessions:<16} {kib / 1024:>7.1f} MB {(kib - baseline) / 1024:>13.1f} MB")
    per = (many - one) / (SESSIONS - 1) / 1024
    print(f"per extra session: {per:.2f} MB (each with a {BOOT_LOG_BYTES // 1000} KB boot log)")


if __name__ == "__main__":
    main()

"""The fixed cost of opening a console pane in the app: from asking for the console's tab until
its first line is drawn (mount, styles, footer), and closing it again. Headless Textual at the
app's bench size; each console is a unix socket served in process that greets on connect.
Prints medians of wall and CPU milliseconds (CPU is what holds on a shared machine).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from console_tui.core import config

OPENS = int(os.environ.get("BENCH_OPENS", "12"))
SIZE = (241, 57)


async def measure(folder: Path) -> tuple[list[float], list[float]]:
    from console_tui.ui.app import ConsoleApp
    from console_tui.ui.screens.main import MainScreen

    async def greet(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\x1b[2J\x1b[Hlogin: ")
        await writer.drain()
        await _reader.read()  # until the pane's viewer lets go of the line
        writer.close()

    sock = folder / "console.sock"
    server = await asyncio.start_unix_server(greet, path=str(sock))
    path = folder / "config.toml"
    path.write_text(
        "[discovery]\nqemu = false\nserial = false\n"
        f'[[target]]\nname = "one"\nconsole = "unix://{sock}"\n'
    )
    app = ConsoleApp(config.load(path), blink=False, probe=False)
    walls: list[float] = []
    cpus: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = next(s for s in app.screen_stack if isinstance(s, MainScreen))
        for _ in range(OPENS + 1):
            wall, cpu = time.perf_counter(), time.process_time()
            pane = await screen.open_target("one")
            while "login:" not in pane.terminal.screen_text():
                await asyncio.sleep(0.001)
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
            await screen.action_close_tab()
            await pilot.pause()
    server.close()
    return walls[1:], cpus[1:]  # the first open also imports and styles what all share


def main() -> None:
    os.environ.setdefault("TEXTUAL_FPS", "240")
    with tempfile.TemporaryDirectory(prefix="ctui-pane-open-") as name:
        folder = Path(name)
        for sub in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            os.environ[sub] = str(folder / sub.lower())
        walls, cpus = asyncio.run(measure(folder))
    print(f"opening a console pane until its first line is drawn, median of {len(walls)}")
    print(
        f"  wall {statistics.median(walls):6.1f} ms   CPU {statistics.median(cpus):6.1f} ms   "
        f"(wall {min(walls):.0f}-{max(walls):.0f} ms)"
    )


if __name__ == "__main__":
    main()

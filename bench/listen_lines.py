"""Many `unix+listen://` lines in one Hub: VMs dialling in, and dialling back in after a drop.

LINES targets each listen on their own Unix socket; LINES clients (the VMs) connect at once. The
figures: the time until every session is connected to its VM (accept and match all), the same
after every VM dropped its connection and dialled again (the take-back), and the RSS each held
connection costs (the process's RSS with all connected, less before any listened, per line).
Each run is repeated ROUNDS times and the median printed. Runs in a child process with private
XDG dirs, so transcripts land in a temp folder.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINES = int(os.environ.get("BENCH_LINES", "100"))
ROUNDS = 3


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def until_connected(hub: object, names: list[str]) -> None:
    async with asyncio.timeout(60):
        while any(hub.status(n).state != "connected" for n in names):  # type: ignore[attr-defined]
            await asyncio.sleep(0.002)


async def one_round(folder: Path) -> tuple[float, float, float]:
    """(seconds to connect all, seconds to take all back, KiB of RSS per connected line)."""
    from console_tui.core import config
    from console_tui.core.hub import Hub

    names = [f"vm{n:03d}" for n in range(LINES)]
    path = folder / "config.toml"
    path.write_text(
        "".join(
            f'[[target]]\nname = "{n}"\nconsole = "unix+listen://{folder / n}.sock"\n'
            for n in names
        )
    )
    before = rss_kib()
    hub = Hub(config.load(path))
    try:
        for name in names:
            await hub.open(name)
        while not all((folder / f"{n}.sock").exists() for n in names):
            await asyncio.sleep(0.002)
        started = time.perf_counter()
        vms = [await asyncio.open_unix_connection(folder / f"{n}.sock") for n in names]
        await until_connected(hub, names)
        connect = time.perf_counter() - started
        per_line = (rss_kib() - before) / LINES
        started = time.perf_counter()
        for _, writer in vms:
            writer.close()
        await asyncio.sleep(0)
        vms = [await asyncio.open_unix_connection(folder / f"{n}.sock") for n in names]
        await until_connected(hub, names)
        take_back = time.perf_counter() - started
        for _, writer in vms:
            writer.close()
    finally:
        await hub.close()
    return connect, take_back, per_line


def child() -> None:
    results = []
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory(prefix="ctui-bl-", dir="/tmp") as name:
            results.append(asyncio.run(one_round(Path(name))))
    connect, take_back, per_line = (statistics.median(r[i] for r in results) for i in range(3))
    print(f"{LINES} unix+listen lines, VMs dialling in at once (median of {ROUNDS}):")
    print(
        f"  all connected       {connect * 1000:8.1f} ms  ({connect / LINES * 1e6:.0f} us a line)"
    )
    print(
        f"  all taken back      {take_back * 1000:8.1f} ms  "
        "(after every VM dropped and dialled again; includes the 0.25 s reconnect pause)"
    )
    print(f"  RSS per connection  {per_line:8.1f} KiB (session, screen, transcript, recording)")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ctui-bench-") as name:
        env = dict(os.environ)
        for var in ("STATE", "CONFIG", "DATA"):
            env[f"XDG_{var}_HOME"] = str(Path(name) / var.lower())
        env["XDG_RUNTIME_DIR"] = str(Path(name) / "run")
        os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700)
        subprocess.run(
            [sys.executable, "-c", "from bench.listen_lines import child; child()"],
            env=env,
            check=True,
        )


if __name__ == "__main__":
    main()

"""`serve` holding many always-on lines: CPU share of one core and RSS per line.

A `console-tui serve --no-ssh` process holds LINES unix-socket consoles, with its alert patterns
and transcripts on. The consoles are served by another process: first idle (connected, silent),
then each sending realistic kernel log lines at a 115200-baud line rate. CPU is the server's user
plus system time (from /proc/PID/stat), the median over SLICES parts of the window; RSS from
/proc/PID/status at the end, and how fast it grew over the last slice (a line's 10,000 lines of
scrollback fill in about 90 s at this rate: run with BENCH_WINDOW=160 to see it level off).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import random
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.screen_throughput import dmesg

LINES = int(os.environ.get("BENCH_LINES", "200"))
BAUD = 115200
WINDOW = float(os.environ.get("BENCH_WINDOW", "20"))
IDLE_WINDOW = 8.0
SLICES = 4
SETTLE = 3.0


def _serve_consoles(folder: Path, sending: multiprocessing.synchronize.Event) -> None:
    """Every console's far end: quiet until `sending`, then log lines at the line rate each."""

    async def main() -> None:
        rng, clock = random.Random(7), [0.0]
        text = "".join(dmesg(rng, clock) for _ in range(250)).encode()
        per_tick = BAUD // 10 // 20  # bytes per 50 ms at the line rate

        async def console(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            offset = hash(writer) % len(text)
            with contextlib.suppress(ConnectionError):
                while True:
                    if sending.is_set():
                        chunk = text[offset : offset + per_tick] or text[:per_tick]
                        offset = (offset + per_tick) % len(text)
                        writer.write(chunk)
                        await writer.drain()
                    await asyncio.sleep(0.05)

        servers = [
            await asyncio.start_unix_server(console, path=str(folder / f"c{n}.sock"))
            for n in range(LINES)
        ]
        await asyncio.Event().wait()
        del servers

    asyncio.run(main())


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _cpu_share(pid: int, seconds: float) -> float:
    start_cpu, start = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (_cpu_seconds(pid) - start_cpu) / (time.monotonic() - start) * 100


def _window(pid: int, seconds: float) -> tuple[float, float, float]:
    """The median CPU share over the window's slices, RSS at its end, and how fast RSS grew
    over the last slice (MiB a minute)."""
    shares, rss = [], [_rss_mib(pid)]
    for _ in range(SLICES):
        shares.append(_cpu_share(pid, seconds / SLICES))
        rss.append(_rss_mib(pid))
    return statistics.median(shares), rss[-1], (rss[-1] - rss[-2]) / (seconds / SLICES) * 60


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ctui-bench-") as name:
        folder = Path(name)
        config = folder / "config.toml"
        config.write_text(
            "".join(
                f'[[target]]\nname = "vm{n}"\nconsole = "unix://{folder}/c{n}.sock"\n'
                for n in range(LINES)
            )
        )
        sending = multiprocessing.Event()
        consoles = multiprocessing.Process(target=_serve_consoles, args=(folder, sending))
        consoles.start()
        while len(list(folder.glob("c*.sock"))) < LINES:
            time.sleep(0.05)
        env = {**os.environ, "XDG_STATE_HOME": str(folder / "state")}
        env["XDG_RUNTIME_DIR"] = str(folder / "run")
        server = subprocess.Popen(
            [sys.executable, "-m", "console_tui", "--config", str(config), "serve", "--no-ssh"],
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
        )
        try:
            assert server.stdout is not None
            said = b""
            while b"join through" not in said:
                ready, _, _ = select.select([server.stdout], [], [], 60)
                line = server.stdout.readline() if ready else b""
                if not line:
                    raise RuntimeError(f"serve did not start: {said!r}")
                said += line
            time.sleep(SETTLE)
            idle_cpu, idle_rss, _ = _window(server.pid, IDLE_WINDOW)
            sending.set()
            time.sleep(SETTLE)
            busy_cpu, busy_rss, growth = _window(server.pid, WINDOW)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(120)
            consoles.terminate()
            consoles.join()
    rate = LINES * BAUD / 10 / 1e6
    print(
        f"serve holding {LINES} lines (alerts, transcripts, recordings on), window {WINDOW:.0f} s:"
    )
    print(f"  idle lines:          CPU {idle_cpu:5.1f} % of a core, RSS {idle_rss:6.1f} MiB")
    print(f"                       {idle_rss * 1024 / LINES:7.0f} KiB RSS per idle line")
    print(
        f"  at 115200 baud each: CPU {busy_cpu:5.1f} % of a core (median), RSS {busy_rss:6.1f} MiB"
    )
    print(
        f"                       ({rate:.1f} MB/s in all); RSS grew {growth:+.1f} MiB a minute at the end"
    )


if __name__ == "__main__":
    main()

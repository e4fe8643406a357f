"""RFC 2217 through a real ser2net in front of a pty that echoes: the key round trip (one byte
out through ser2net to the port and back) p50/p99 in ms, and how long a baud change takes to be
confirmed by the server.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import tty
from pathlib import Path

from console_tui.core.backings import make_backing
from console_tui.core.backings.rfc2217 import RFC2217Backing
from console_tui.lab.ser2net import ser2net

KEYS = 1000
BAUD_CHANGES = 50


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def measure(port: int, master: int) -> tuple[list[float], list[float]]:
    """(key round trips, baud confirmations), in seconds."""
    loop = asyncio.get_running_loop()

    def echo() -> None:
        os.write(master, os.read(master, 4096))

    loop.add_reader(master, echo)
    backing = make_backing(f"rfc2217://127.0.0.1:{port}")
    assert isinstance(backing, RFC2217Backing)
    await backing.open()
    assert backing.com_port, backing.line
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def pump() -> None:
        while True:
            got.put_nowait(await backing.read())

    reader = loop.create_task(pump())
    trips: list[float] = []
    confirmations: list[float] = []
    try:
        for n in range(KEYS):
            key = bytes((0x61 + n % 26,))
            started = time.perf_counter()
            await backing.write(key)
            echoed = b""
            while key not in echoed:
                echoed += await got.get()
            trips.append(time.perf_counter() - started)
        for n in range(BAUD_CHANGES):
            started = time.perf_counter()
            line = await backing.set_baud(9600 if n % 2 else 19200)
            assert "not confirmed" not in line, line
            confirmations.append(time.perf_counter() - started)
    finally:
        reader.cancel()
        loop.remove_reader(master)
        await backing.close()
    return trips, confirmations


def main() -> None:
    master, slave = os.openpty()
    tty.setraw(master)
    try:
        with tempfile.TemporaryDirectory(prefix="ctui-bench-") as folder:
            connector = f"serialdev,{os.ttyname(slave)},115200n81,local"
            with ser2net(Path(folder), "telnet(rfc2217)", connector) as server:
                trips, confirmations = asyncio.run(measure(server.port, master))
    finally:
        os.close(master)
        os.close(slave)
    ms = 1000
    print(
        f"key round trip through ser2net ({KEYS} keys): "
        f"p50 {statistics.median(trips) * ms:.2f} ms, p99 {percentile(trips, 0.99) * ms:.2f} ms"
    )
    print(
        f"baud change confirmed ({BAUD_CHANGES} changes): "
        f"p50 {statistics.median(confirmations) * ms:.2f} ms, "
        f"p99 {percentile(confirmations, 0.99) * ms:.2f} ms"
    )


if __name__ == "__main__":
    main()

"""IPMI Serial-over-LAN against OpenIPMI's `ipmi_sim` managing the demo guest under QEMU.

Figures: the SOL key round trip (a key typed on the SOL console until the guest's echo comes back)
as p50/p99 over KEYS keys, and the time from an IPMI reset to the first byte of the new boot on the
same SOL session.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from console_tui.core.backings import make_backing
from console_tui.core.control import make_control
from console_tui.core.ipmi_common import PasswordSource
from console_tui.lab.bmc import SimulatedBMC

KEYS = int(os.environ.get("BENCH_SOL_KEYS", "100"))
RESETS = int(os.environ.get("BENCH_SOL_RESETS", "2"))


class Line:
    """What the SOL console has said so far, read as it comes."""

    def __init__(self, backing: object) -> None:
        self.backing = backing
        self.seen = bytearray()

    async def until(self, needle: bytes, timeout: float = 120.0, start: int = 0) -> float:
        """Read until `needle` appears after offset `start`; return when it did."""
        try:
            async with asyncio.timeout(timeout):
                while self.seen.find(needle, start) < 0:
                    self.seen += await self.backing.read()  # type: ignore[attr-defined]
        except TimeoutError:
            raise TimeoutError(
                f"{needle!r} never came; the end: {bytes(self.seen[-300:])!r}"
            ) from None
        return time.perf_counter()


async def measure(folder: Path) -> tuple[list[float], list[float]]:
    sim = SimulatedBMC(folder)
    info = sim.up()
    password = PasswordSource(str(info.password_file))
    try:
        control = make_control(info.control_uri, password=password)
        await control.power("on")  # type: ignore[attr-defined]
        await asyncio.sleep(3)  # QEMU's serial port listens before SOL may start on it
        backing = make_backing(info.console_uri, password=password)
        await backing.open()
        line = Line(backing)
        await line.until(b"demo:~#")
        await backing.write(b"stty raw -echo; cat\r")  # cat sends each key back as it comes
        await asyncio.sleep(1)
        await backing.write(b"warm\r")
        await line.until(b"warm", timeout=20)
        trips = []
        for index in range(KEYS):
            key = b"abcdefghij"[index % 10 : index % 10 + 1]
            start, sent = len(line.seen), time.perf_counter()
            await backing.write(key)
            trips.append((await line.until(key, timeout=20, start=start)) - sent)
        resets = []
        for number in range(RESETS):
            start, sent = len(line.seen), time.perf_counter()
            await control.reset()
            first = await line.until(b"\n", start=start)
            resets.append(first - sent)
            if number < RESETS - 1:
                await line.until(b"demo:~#", start=start)
        await backing.close()
        return trips, resets
    finally:
        sim.down()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ctui-ipmi-") as folder:
        trips, resets = asyncio.run(measure(Path(folder)))
    ms = sorted(t * 1000 for t in trips)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"SOL key round trip over {len(ms)} keys: p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms"
    )
    print(
        f"IPMI reset to the first boot byte on the same SOL session: median "
        f"{statistics.median(resets):.2f} s over {len(resets)} resets"
    )


if __name__ == "__main__":
    main()

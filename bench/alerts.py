"""What alert matching costs on the byte path: the alert scan beside the screen model, per read.

The same realistic kernel log is fed in reads of a line-rate size (576 bytes: 50 ms at 115200
baud) and of 64 KiB, once to the alert scan and once to an 80x24 screen model, the work every read
already does; medians of REPEAT runs, and the scan's cost as a share of the model's.
"""

from __future__ import annotations

import random
import statistics
import time

from bench.screen_throughput import dmesg
from console_tui.core.alerts import AlertWatch
from console_tui.core.screen import make_screen

REPEAT = 5


def _text() -> bytes:
    rng, clock = random.Random(11), [0.0]
    return "".join(dmesg(rng, clock) for _ in range(150)).encode()


def _seconds(feed: object, text: bytes, size: int) -> float:
    start = time.perf_counter()
    for offset in range(0, len(text), size):
        feed(text[offset : offset + size])  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    text = _text()
    print(f"{len(text) / 1e6:.2f} MB of kernel log; medians of {REPEAT} runs")
    for size in (576, 65536):
        scan = statistics.median(_seconds(AlertWatch().feed, text, size) for _ in range(REPEAT))
        model = statistics.median(
            _seconds(make_screen(80, 24, scrollback_lines=1000).feed, text, size)
            for _ in range(REPEAT)
        )
        print(
            f"  reads of {size:5d} B: alert scan {len(text) / scan / 1e6:7.1f} MB/s, "
            f"screen model {len(text) / model / 1e6:6.1f} MB/s, "
            f"scan = {scan / model * 100:4.1f} % of the model's time"
        )


if __name__ == "__main__":
    main()

"""How fast the telnet codec turns what a telnet console sends into console bytes, in MB/s.

Inputs, fed in the 4 KB reads a backing makes: console output with no telnet commands (the usual
case, in binary mode as QEMU asks and outside it, where CR NUL is undone); binary data whose 0xFF
bytes come doubled; a flood of 2-byte commands (IAC NOP); and a flood of option requests, which
are answered one by one.
"""

from __future__ import annotations

import random
import statistics
import time

from bench.screen_throughput import console_mix
from console_tui.core.backings._telnet import BINARY, TelnetCodec

READ_SIZE = 4096
SIZE = 4_000_000
RUNS = 3


def inputs() -> dict[str, tuple[bytes, bool]]:
    """Name -> (what the server sends, whether the server is in binary mode)."""
    rng = random.Random(13)
    text = console_mix(SIZE)[:SIZE]
    binary = bytes(rng.getrandbits(8) for _ in range(SIZE // 2)).replace(b"\xff", b"\xff\xff")
    return {
        "plain text, binary mode": (text, True),
        "plain text, CR NUL": (text.replace(b"\r\n", b"\r\x00\n"), False),
        "binary data, 0xFF doubled": (binary, True),
        "IAC NOP flood": (b"\xff\xf1" * (SIZE // 2), True),
        "IAC WILL flood": (b"\xff\xfb\x63" * (SIZE // 3), True),
    }


def decode_all(data: bytes, binary: bool) -> float:
    """Seconds to decode `data` in READ_SIZE reads."""
    codec = TelnetCodec()
    if binary:
        codec.theirs.add(BINARY)
    decode = codec.decode
    started = time.perf_counter()
    for start in range(0, len(data), READ_SIZE):
        decode(data[start : start + READ_SIZE])
    return time.perf_counter() - started


def main() -> None:
    header = f"{'input':<28} {'size':>7} {'median':>12} {'range':>17}"
    print(header)
    print("-" * len(header))
    for name, (data, binary) in inputs().items():
        megabytes = len(data) / 1e6
        runs = RUNS if megabytes < 10 else 1
        rates = [megabytes / decode_all(data, binary) for _ in range(runs)]
        print(
            f"{name:<28} {megabytes:>5.1f}MB {statistics.median(rates):>7.1f} MB/s "
            f"{min(rates):>7.1f}-{max(rates):.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

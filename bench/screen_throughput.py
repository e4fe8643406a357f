"""How fast each screen backend takes in console output, drawing frames as a UI would.

The input is a deterministic mix of what serial consoles carry: dmesg lines, coloured `ls` and
`systemctl status` output, progress bars redrawn with CR, top-like full-screen redraws, DEC
line-drawing dialog boxes and CJK text. It is fed in 4 KB reads, with `rows()` called every 64 KB
as a frame would be. The mix repeats in short rounds, so any prefix of a few hundred KB is
representative: pyte, tens of times slower, gets a shorter prefix to keep the run short.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

from console_tui.core.screen import available_backends, make_screen

READ_SIZE = 4096
FRAME_EVERY = 64 * 1024
SIZES = ((80, 24), (200, 50))
PLAN = {"evp": (6_000_000, 5), "pyte": (1_000_000, 3)}
"""Bytes fed and runs per backend and size."""

WORDS = [
    "eth0",
    "link",
    "up",
    "usb",
    "device",
    "descriptor",
    "read",
    "error",
    "mounted",
    "filesystem",
    "with",
    "ordered",
    "data",
    "mode",
    "systemd",
    "started",
    "session",
    "scope",
    "audit",
    "ata1",
    "SATA",
    "link",
    "up",
    "6.0",
    "Gbps",
    "nvme0n1",
    "p1",
    "p2",
    "random",
    "crng",
    "init",
    "done",
    "EXT4-fs",
    "recovery",
    "complete",
    "clocksource",
    "tsc",
    "unstable",
    "virtio_net",
    "virtio0",
    "enp1s0",
    "ready",
]
CJK = "日本語のログ出力 中文字符测试 한국어 텍스트 全角カタカナ表示"


def dmesg(rng: random.Random, clock: list[float]) -> str:
    lines = []
    for _ in range(40):
        clock[0] += rng.random() / 50
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))
        lines.append(f"[{clock[0]:12.6f}] {rng.choice(WORDS)}: {words}\r\n")
    return "".join(lines)


def coloured_listing(rng: random.Random) -> str:
    colours = ("01;34", "01;32", "01;36", "00", "01;31", "38;5;208", "38;2;120;200;80")
    lines = []
    for _ in range(20):
        names = "  ".join(
            f"\x1b[{rng.choice(colours)}m{rng.choice(WORDS)}.{rng.choice(WORDS)[:3]}\x1b[0m"
            for _ in range(rng.randint(2, 6))
        )
        lines.append(names + "\r\n")
    lines.append(
        "\x1b[0;1;32m●\x1b[0m nginx.service - A high performance web server\r\n"
        "     Loaded: loaded (/lib/systemd/system/nginx.service; \x1b[0;1;32menabled\x1b[0m)\r\n"
        "     Active: \x1b[0;1;32mactive (running)\x1b[0m since Mon 2024-06-03 10:12:01 UTC\r\n"
        "   Main PID: 812 (nginx)\r\n"
    )
    return "".join(lines)


def progress_bar(rng: random.Random) -> str:
    steps = []
    for percent in range(0, 101, 2):
        filled = percent * 40 // 100
        speed = rng.uniform(5, 90)
        steps.append(f"\r[{'#' * filled}{' ' * (40 - filled)}] {percent:3d}% {speed:5.1f} MB/s")
    return "".join(steps) + "\r\n"


def top_redraw(rng: random.Random) -> str:
    parts = ["\x1b[H", f"top - 10:{rng.randint(10, 59)}:00 up 3 days, load average: 0.42\x1b[K"]
    parts.append("\x1b[2;1H\x1b[7m  PID USER      PR  NI    VIRT    RES  %CPU COMMAND\x1b[0m\x1b[K")
    for row in range(3, 24):
        pid = rng.randint(1, 40000)
        cpu = rng.uniform(0, 99)
        parts.append(
            f"\x1b[{row};1H{pid:5d} root      20   0  {rng.randint(1000, 900000):6d} "
            f"{rng.randint(100, 90000):6d} {cpu:5.1f} {rng.choice(WORDS)}\x1b[K"
        )
    return "".join(parts) + "\x1b[24;1H"


def dialog_box(rng: random.Random) -> str:
    width = rng.randint(30, 60)
    top = 4 + rng.randint(0, 6)
    parts = [f"\x1b[44m\x1b[{top};10H\x1b(0l{'q' * width}k\x1b(B"]
    for row in range(1, 8):
        label = " ".join(rng.choice(WORDS) for _ in range(3))[: width - 2]
        parts.append(f"\x1b[{top + row};10H\x1b(0x\x1b(B\x1b[47;30m {label:<{width - 1}}\x1b[44m")
        parts.append("\x1b(0x\x1b(B")
    parts.append(f"\x1b[{top + 8};10H\x1b(0m{'q' * width}j\x1b(B\x1b[0m")
    return "".join(parts)


def cjk_text(rng: random.Random) -> str:
    return "".join(f"{rng.choice(WORDS)} {CJK[rng.randint(0, 10) :]}\r\n" for _ in range(15))


def console_mix(size: int, seed: int = 7) -> bytes:
    """About `size` bytes of console output, the same for the same seed."""
    rng = random.Random(seed)
    clock = [0.0]
    kinds: list[Callable[[], str]] = [
        lambda: dmesg(rng, clock),
        lambda: coloured_listing(rng),
        lambda: progress_bar(rng),
        lambda: "\x1b[2J" + top_redraw(rng) + top_redraw(rng) + "\r\n",
        lambda: dialog_box(rng) + "\x1b[25;1H\r\n",
        lambda: cjk_text(rng),
    ]
    chunks: list[bytes] = []
    total = 0
    while total < size:
        for kind in kinds:
            chunk = kind().encode()
            chunks.append(chunk)
            total += len(chunk)
    return b"".join(chunks)[:size]


def feed_all(backend: str, columns: int, rows: int, data: bytes) -> float:
    """Seconds to feed `data` in reads, drawing a frame every FRAME_EVERY bytes."""
    screen = make_screen(columns, rows, backend=backend, on_reply=lambda _reply: None)
    next_frame = FRAME_EVERY
    started = time.perf_counter()
    for offset in range(0, len(data), READ_SIZE):
        screen.feed(data[offset : offset + READ_SIZE])
        if offset >= next_frame:
            screen.rows()
            next_frame += FRAME_EVERY
    screen.rows()
    return time.perf_counter() - started


def main() -> None:
    data = console_mix(max(size for size, _ in PLAN.values()))
    header = f"{'backend':<8} {'size':>7} {'fed':>8} {'runs':>4} {'median':>12} {'range':>17}"
    print(header)
    print("-" * len(header))
    for backend in available_backends():
        size, runs = PLAN[backend]
        sample = data[:size]
        megabytes = len(sample) / 1e6
        for columns, rows in SIZES:
            rates = [megabytes / feed_all(backend, columns, rows, sample) for _ in range(runs)]
            print(
                f"{backend:<8} {columns:>3}x{rows:<3} {megabytes:>6.1f}MB {runs:>4} "
                f"{statistics.median(rates):>7.2f} MB/s "
                f"{min(rates):>7.2f}-{max(rates):.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

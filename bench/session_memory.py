"""Memory a console's screen model holds with 10,000 lines of scrollback, and what reading it costs.

SCREENS screens of each kind are fed 12,000 kernel log lines each in 576-byte reads (a 115200-baud
line's 50 ms); RSS is read from /proc/self/status before and after, after a garbage collection.
The anchor is libghostty holding the whole scrollback itself, as the evp screen did before its
compact scrollback: the same bytes, the same process. "held" is a line `serve` holds that nobody
reads, "open" a console the app shows, whose scrolled-off rows a reading view takes. Output is
taken as coming at a line's usual pace, so the log is compressed (COMPRESS_AFTER is set to 0 here
rather than waiting; a flood keeps its last megabyte or so as it came until it has been quiet for
that long). Each kind runs in a fresh process, so memory freed by one does not hide the next.
"""

from __future__ import annotations

import gc
import multiprocessing
import random
import statistics
import time
from pathlib import Path

from bench.screen_throughput import dmesg

SCREENS = 4
LINES = 12_000
SCROLLBACK = 10_000
READ = 576
SIZES = ((80, 24), (200, 50))


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _output() -> bytes:
    rng, clock = random.Random(3), [0.0]
    text = ""
    while text.count("\n") < LINES:
        text += dmesg(rng, clock)
    return text.encode()


def _measure(kind: str, columns: int, rows: int, result: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import evp

    from console_tui.core import _replay_log
    from console_tui.core._screen_evp import scrollback_bytes
    from console_tui.core.screen import make_screen

    _replay_log.COMPRESS_AFTER = 0.0

    data = _output()
    gc.collect()
    before = _rss_mib()
    held: list[object] = []
    for _ in range(SCREENS):
        if kind == "anchor":
            budget = scrollback_bytes(columns, SCROLLBACK)
            terminal = evp.Terminal(columns, rows, max_scrollback_bytes=budget)
            render = evp.RenderState(terminal)
            for start in range(0, len(data), READ):
                terminal.feed(data[start : start + READ])
            render.frame()
            held.append((terminal, render))
            continue
        screen = make_screen(columns, rows, backend="evp", scrollback_lines=SCROLLBACK)
        for start in range(0, len(data), READ):
            screen.feed(data[start : start + READ])
            if kind == "open" and start % (READ * 20) == 0:
                screen.scrolled_off()
        screen.rows()
        held.append(screen)
    gc.collect()
    per_screen = (_rss_mib() - before) / SCREENS
    history_ms = 0.0
    if kind != "anchor":
        screen = held[0]
        started = time.perf_counter()
        assert len(screen.history()) == SCROLLBACK  # type: ignore[attr-defined]
        history_ms = (time.perf_counter() - started) * 1000
    result.put((per_screen, history_ms))


def _run(kind: str, columns: int, rows: int) -> tuple[float, float]:
    result: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    process = multiprocessing.Process(target=_measure, args=(kind, columns, rows, result))
    process.start()
    figures = result.get(timeout=300)
    process.join()
    return figures  # type: ignore[no-any-return]


def main() -> None:
    from console_tui.core.screen import available_backends

    if "evp" not in available_backends():
        print("evp is not available here: nothing to measure")
        return
    print(f"RSS per screen, {LINES} log lines fed, {SCROLLBACK} lines of scrollback (median of 3):")
    for columns, rows in SIZES:
        anchor = _run("anchor", columns, rows)[0]
        for kind in ("held", "open"):
            runs = [_run(kind, columns, rows) for _ in range(3)]
            mib = statistics.median(r[0] for r in runs)
            history = statistics.median(r[1] for r in runs)
            print(
                f"  {columns}x{rows} {kind}: {mib:5.2f} MiB "
                f"(libghostty holding it all: {anchor:5.2f} MiB, ratio {mib / anchor:4.2f}); "
                f"drawing the scrollback again {history:4.0f} ms"
            )


if __name__ == "__main__":
    main()

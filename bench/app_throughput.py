"""What the whole app sustains: console output it takes in while keystrokes still echo, and frames.

The app runs headless (`App.run_test`, so frames are composed but not written to a terminal) with
one console of 200x50 cells. A peer in its own process floods that console at full speed with
coloured dmesg lines for FLOOD_SECONDS, scrolling in rows 2-50, while a typist presses one key every
100 ms; the peer answers each key in the fixed row 1, behind whatever output it is still sending.
Echo latency runs from the key event to the echo being fed to the widget's screen model.

Then it times frames: a full-screen change of 200x50 coloured cells, first the widget's own work
(screen model to cached strips), then the whole app's frame (compositor, and the bytes a terminal
would be sent).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import multiprocessing
import random
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual import events
from textual.pilot import Pilot

from bench.screen_throughput import WORDS, dmesg
from console_tui.core import config as config_mod
from console_tui.ui.app import ConsoleApp
from console_tui.ui.screens.main import MainScreen

FLOOD_SECONDS = 8.0
KEY_EVERY = 0.1
COLUMNS, ROWS = 200, 50
FRAMES = 60
SEND_SIZE = 16 * 1024
COLOURS = ("1;31", "1;32", "1;33", "1;34", "36", "38;5;208", "38;2;120;200;80")


def coloured_dmesg(size: int, seed: int = 11) -> bytes:
    """About `size` bytes of dmesg lines with a coloured subsystem, as `dmesg --color` prints."""
    rng = random.Random(seed)
    clock = [0.0]
    out: list[str] = []
    total = 0
    while total < size:
        for line in dmesg(rng, clock).splitlines(keepends=True):
            stamp, _, rest = line.partition("] ")
            word = rng.choice(WORDS)
            line = f"\x1b[32m{stamp}]\x1b[0m \x1b[{rng.choice(COLOURS)}m{word}\x1b[0m: {rest}"
            out.append(line)
            total += len(line)
    return "".join(out).encode()


def whole_lines(text: bytes, size: int) -> list[bytes]:
    """`text` cut into pieces of about `size` bytes that end at a line end, never mid-sequence."""
    pieces, start = [], 0
    while start < len(text):
        end = text.find(b"\n", start + size)
        end = len(text) if end < 0 else end + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def echo_bytes(count: int) -> bytes:
    """How the peer shows key `count`: in row 1, which the scrolling region leaves alone."""
    return f"\x1b7\x1b[1;1H\x1b[7m keys: {count:05d} \x1b[0m\x1b8".encode()


def flood_peer(path: str, seconds: float, ready: object, sent: object) -> None:
    """The far end, in its own process: flood, and echo every key between two sends."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    ready.set()  # type: ignore[attr-defined]
    conn, _ = listener.accept()
    line = threading.Lock()
    conn.sendall(f"\x1b[2J\x1b[2;{ROWS}r\x1b[{ROWS};1H".encode())

    def echo() -> None:
        count = 0
        try:
            while data := conn.recv(64):
                count += len(data)
                with line:
                    conn.sendall(echo_bytes(count))
        except OSError:
            return

    echoer = threading.Thread(target=echo, daemon=True)
    echoer.start()
    pieces = whole_lines(coloured_dmesg(4 * 1024 * 1024), SEND_SIZE)
    deadline = time.monotonic() + seconds
    total = 0
    try:
        for piece in itertools.cycle(pieces):
            if time.monotonic() >= deadline:
                break
            with line:
                conn.sendall(piece)
            total += len(piece)
        sent.value = total  # type: ignore[attr-defined]
        with line:
            conn.sendall(b"\r\nflood over\r\n")
        echoer.join()  # until the app hangs up
    except OSError:
        sent.value = total  # type: ignore[attr-defined]
    finally:
        conn.close()
        listener.close()


async def wait_for(pilot: Pilot, condition: Callable[[], object], what: str) -> None:
    """Let the app run until `condition` holds; a peer that never gets there fails the run."""
    deadline = time.monotonic() + FLOOD_SECONDS + 30
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        await pilot.pause(0.02)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def full_screen(frame: int) -> bytes:
    """A 200x50 picture in which every cell differs from the previous frame's."""
    rows = []
    for y in range(ROWS):
        colour = COLOURS[(y + frame) % len(COLOURS)]
        body = "".join(chr(33 + (x * 7 + y * 3 + frame) % 94) for x in range(COLUMNS))
        rows.append(f"\x1b[{y + 1};1H\x1b[{colour}m{body}\x1b[0m")
    return "".join(rows).encode()


async def run(folder: Path) -> dict[str, float]:
    sock = folder / "flood.sock"
    config_path = folder / "config.toml"
    config_path.write_text(f'[[target]]\nname = "flood"\nconsole = "unix://{sock}"\n')
    config = config_mod.load(config_path)
    spawn = multiprocessing.get_context("spawn")
    ready, sent = spawn.Event(), spawn.Value("q", 0)
    peer = spawn.Process(target=flood_peer, args=(str(sock), FLOOD_SECONDS, ready, sent))
    peer.start()
    if not ready.wait(30):
        raise RuntimeError("the flood peer did not start")
    figures: dict[str, float] = {}
    app = ConsoleApp(config, blink=False, probe=False)
    # Around the console: the inventory and borders (40 columns), tabs, status and footer (7 rows).
    async with app.run_test(size=(COLUMNS + 40, ROWS + 7)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        pane = await screen.open_target("flood")
        terminal = pane.terminal
        pressed: dict[int, float] = {}
        echoed: dict[int, float] = {}
        tail = [b""]
        feed = terminal.feed

        def watched_feed(data: bytes) -> None:
            feed(data)
            seen = tail[0] + data
            for count in list(pressed):
                if count not in echoed and echo_bytes(count) in seen:
                    echoed[count] = time.perf_counter()
            tail[0] = seen[-64:]

        terminal.feed = watched_feed  # type: ignore[method-assign]
        await wait_for(pilot, lambda: terminal.bytes_fed, "the first output")
        started, fed_before = time.perf_counter(), terminal.bytes_fed
        count = 0
        while not sent.value and time.perf_counter() - started < FLOOD_SECONDS + 5:
            count += 1
            pressed[count] = time.perf_counter()
            app.post_message(events.Key("x", "x"))
            await asyncio.sleep(KEY_EVERY)
        await wait_for(pilot, lambda: "flood over" in terminal.screen_text(), "the flood's end")
        took = time.perf_counter() - started
        session = app.hub.session("flood")
        viewer = pane.viewer
        latencies = [(echoed[n] - pressed[n]) * 1000 for n in echoed]
        figures.update(
            sent_mbs=sent.value / 1e6 / took,
            fed_mbs=(terminal.bytes_fed - fed_before) / 1e6 / took,
            dropped=float(viewer.dropped if viewer is not None else 0),
            keys=float(count),
            echoed=float(len(echoed)),
            p50=percentile(latencies, 0.5) if latencies else float("nan"),
            p99=percentile(latencies, 0.99) if latencies else float("nan"),
            worst=max(latencies, default=float("nan")),
        )
        assert session is not None and terminal.screen_model.size == (COLUMNS, ROWS), (
            f"the console is {terminal.screen_model.size}, not {COLUMNS}x{ROWS}"
        )

        widget_ms, frame_ms = [], []
        compositor = screen._compositor
        gc.collect()
        for frame in range(FRAMES):
            terminal.screen_model.feed(full_screen(frame))
            begin = time.perf_counter()
            terminal.sync_now()
            for y in range(terminal.size.height):
                terminal.render_line(y)
            middle = time.perf_counter()
            compositor.render_update(full=True).render_segments(app.console)
            end = time.perf_counter()
            widget_ms.append((middle - begin) * 1000)
            frame_ms.append((end - begin) * 1000)
        figures.update(
            widget_p50=statistics.median(widget_ms),
            widget_p90=percentile(widget_ms, 0.9),
            frame_p50=statistics.median(frame_ms),
            frame_p90=percentile(frame_ms, 0.9),
        )
    peer.join(10)
    if peer.is_alive():
        peer.kill()
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ctui-bench-", dir="/tmp") as folder:
        figures = asyncio.run(run(Path(folder)))
    print(f"{'flood, 200x50 console':<34} {FLOOD_SECONDS:.0f} s, one key every {KEY_EVERY:g} s")
    print(f"  {'peer sent':<32} {figures['sent_mbs']:8.2f} MB/s")
    print(f"  {'fed to the widget':<32} {figures['fed_mbs']:8.2f} MB/s")
    print(f"  {'viewer events dropped':<32} {figures['dropped']:8.0f}")
    print(f"  {'keys echoed':<32} {figures['echoed']:5.0f}/{figures['keys']:.0f}")
    print(f"  {'echo latency p50':<32} {figures['p50']:8.1f} ms")
    print(f"  {'echo latency p99':<32} {figures['p99']:8.1f} ms")
    print(f"  {'echo latency worst':<32} {figures['worst']:8.1f} ms")
    print(f"{'full-screen change, 200x50':<34} {FRAMES} frames   median      p90")
    print(
        f"  {'widget (model to strips)':<32} {figures['widget_p50']:8.2f} ms "
        f"{figures['widget_p90']:7.2f} ms"
    )
    print(
        f"  {'app frame (+ compositor, bytes)':<32} {figures['frame_p50']:8.2f} ms "
        f"{figures['frame_p90']:7.2f} ms"
    )


if __name__ == "__main__":
    main()

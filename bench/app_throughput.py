"""What the whole app sustains: console output it takes in while keystrokes still echo, and frames.

The app runs headless (`App.run_test`, so frames are composed but not written to a terminal) with
one console of 200x50 cells. A peer in its own process floods that console with coloured dmesg
lines for FLOOD_SECONDS, scrolling in rows 2-50, at each of RATES (0 = as fast as the app takes it),
while a typist presses one key every 100 ms; the peer answers each key in the fixed row 1, behind
whatever output it is still sending. Echo latency runs from the key event to the echo being fed to
the widget's screen model. An echo is in-band, so it can only come as fast as the output before it:
the figure that matters is the highest rate at which echo stays prompt.

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
from console_tui.ui.widgets.terminal import TerminalView

FLOOD_SECONDS = 5.0
WARM_UP = 1.5
"""Keys pressed this soon after the flood starts wait behind what piled up while the app started;
they are reported apart from the steady state."""
RATES = (0.25e6, 1e6, 2e6, 0.0)
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


def flood_peer(path: str, seconds: float, rate: float, ready: object, sent: object) -> None:
    """The far end, in its own process: flood at `rate` bytes/s (0: no limit), echo every key."""
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
    begun = time.monotonic()
    deadline = begun + seconds
    total = 0
    try:
        for piece in itertools.cycle(pieces):
            if time.monotonic() >= deadline:
                break
            with line:
                conn.sendall(piece)
            total += len(piece)
            if rate:
                time.sleep(max(0.0, begun + total / rate - time.monotonic()))
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


async def run(folder: Path, rate: float, frames: bool) -> dict[str, float]:
    sock = folder / "flood.sock"
    config_path = folder / "config.toml"
    config_path.write_text(f'[[target]]\nname = "flood"\nconsole = "unix://{sock}"\n')
    config = config_mod.load(config_path)
    spawn = multiprocessing.get_context("spawn")
    ready, sent = spawn.Event(), spawn.Value("q", 0)
    peer = spawn.Process(target=flood_peer, args=(str(sock), FLOOD_SECONDS, rate, ready, sent))
    peer.start()
    if not ready.wait(30):
        raise RuntimeError("the flood peer did not start")
    figures: dict[str, float] = {}
    app = ConsoleApp(config, blink=False, probe=False)
    # Around the console: the inventory, borders and the scrollbar's column (41 columns), tabs,
    # status and footer (7 rows).
    async with app.run_test(size=(COLUMNS + 41, ROWS + 7)) as pilot:
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
        steady = [
            (echoed[n] - pressed[n]) * 1000 for n in echoed if pressed[n] - started >= WARM_UP
        ]
        warm = [(echoed[n] - pressed[n]) * 1000 for n in echoed if pressed[n] - started < WARM_UP]
        latencies = steady
        figures.update(
            sent_mbs=sent.value / 1e6 / took,
            fed_mbs=(terminal.bytes_fed - fed_before) / 1e6 / took,
            dropped=float(viewer.dropped if viewer is not None else 0),
            keys=float(count),
            echoed=float(len(echoed)),
            p50=percentile(latencies, 0.5) if latencies else float("nan"),
            p99=percentile(latencies, 0.99) if latencies else float("nan"),
            worst=max(latencies, default=float("nan")),
            warm_worst=max(warm, default=float("nan")),
        )
        assert session is not None and terminal.screen_model.size == (COLUMNS, ROWS), (
            f"the console is {terminal.screen_model.size}, not {COLUMNS}x{ROWS}"
        )
        if frames:
            figures.update(time_frames(app, screen, terminal))
    peer.join(10)
    if peer.is_alive():
        peer.kill()
    return figures


def time_frames(app: ConsoleApp, screen: MainScreen, terminal: TerminalView) -> dict[str, float]:
    """Full-screen changes of 200x50 coloured cells: the widget's work, then the whole frame."""
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
    return {
        "widget_p50": statistics.median(widget_ms),
        "widget_p90": percentile(widget_ms, 0.9),
        "frame_p50": statistics.median(frame_ms),
        "frame_p90": percentile(frame_ms, 0.9),
    }


def main() -> None:
    results = []
    for index, rate in enumerate(RATES):
        with tempfile.TemporaryDirectory(prefix="ctui-bench-", dir="/tmp") as folder:
            results.append(asyncio.run(run(Path(folder), rate, frames=index == len(RATES) - 1)))
    print(f"flood of a 200x50 console, {FLOOD_SECONDS:.0f} s a rate, one key every {KEY_EVERY:g} s")
    print(f"  echo latency after the first {WARM_UP:g} s; 'warm-up' is the worst before that")
    print(
        f"  {'peer rate':<12} {'fed MB/s':>9} {'echoed':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'warm-up ms':>11} {'dropped':>8}"
    )
    for rate, figures in zip(RATES, results, strict=True):
        asked = f"{rate / 1e6:g} MB/s" if rate else "unlimited"
        print(
            f"  {asked:<12} {figures['fed_mbs']:9.2f} "
            f"{figures['echoed']:4.0f}/{figures['keys']:<3.0f} "
            f"{figures['p50']:8.1f} {figures['p99']:8.1f} {figures['warm_worst']:11.1f} "
            f"{figures['dropped']:8.0f}"
        )
    figures = results[-1]
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

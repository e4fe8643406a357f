"""The app and `attach` against tmux, side by side in one run, as an operator's terminal sees them.

Each client runs in a pseudo-terminal of its own (tmux and `attach` at 200x50; the app a little
larger, so its console pane is 200x50) and reads a console from a unix socket served by a peer
process. What the bench times is what reaches that terminal, not what reaches a screen model:

- flood: 20 MB of coloured dmesg lines, then a marker line; the time from the first byte sent until
  the marker is drawn on the terminal (medians of RUNS runs, as ratios to tmux).
- key echo: a key typed at the terminal; the peer answers it in row 1 (behind whatever output it is
  still sending) with a word every cell of which differs from the last answer's, so any terminal
  renderer must draw all of it; the time until that word is drawn. Idle (p50) and under a 1 MB/s
  flood scrolling rows 2-50 (p99 over FLOOD_ECHO_SECONDS of keys, ~120: not just the worst one).
- frame: a full-screen change of 200x50 coloured cells in the terminal widget (screen model to
  the bytes a terminal is sent), against bare Textual drawing the same strips from a Line-API
  widget in the same frame (border, scrollbar column; median).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

from bench.app_throughput import COLOURS, coloured_dmesg, full_screen, percentile, whole_lines

COLUMNS, ROWS = 200, 50
APP_SIZE = (COLUMNS + 41, ROWS + 7)
"""Around the console: the target list, borders and the scrollbar's column; tabs, status, footer."""
FLOOD_BYTES = 20 * 1024 * 1024
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SEND_SIZE = 16 * 1024
IDLE_KEYS = 20
FLOOD_RATE = 1e6
FLOOD_ECHO_SECONDS = 10.0
FRAMES = 40
WAIT = 60.0
KINDS = ["tmux", "attach", "app"]
DUMP = os.environ.get("BENCH_DUMP", "")
"""A file to append everything the clients draw to (to see why a run waits)."""


def echo_word(key: int) -> bytes:
    """The peer's answer to key byte `key`: 8 capitals, each unlike its neighbour and unlike the
    same cell of the answer to the key before, so no renderer can skip or repeat a cell."""
    return "".join(chr(65 + (key * 7 + i * 3) % 26) for i in range(8)).encode()


def echo_bytes(key: int) -> bytes:
    return b"\x1b7\x1b[1;1H\x1b[7m " + echo_word(key) + b" \x1b[0m\x1b8"


def peer(path: str, control: Connection) -> None:
    """The console's far end, in its own process: floods on command, answers every key.

    It takes every connection (a client may probe the socket before it connects for good) and
    serves the newest."""
    text = coloured_dmesg(4 * 1024 * 1024)
    pieces = whole_lines(text, SEND_SIZE)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    line = threading.Lock()
    newest: list[socket.socket] = []

    def answer(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := conn.recv(64):
                for key in data:
                    with line:
                        conn.sendall(echo_bytes(key))

    def take() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                with line:
                    newest.append(conn)
                threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=take, daemon=True).start()
    control.send("listening")

    def send(data: bytes) -> None:
        with line:
            if newest:
                with contextlib.suppress(OSError):
                    newest[-1].sendall(data)

    try:
        while True:
            command = control.recv()
            if command[0] == "say":
                send(command[1])
            elif command[0] == "flood":
                _, size, rate, seconds = command
                begun, sent, index = time.monotonic(), 0, 0
                while (sent < size) if size else (time.monotonic() - begun < seconds):
                    piece = pieces[index % len(pieces)]
                    index += 1
                    send(piece)
                    sent += len(piece)
                    if rate:
                        time.sleep(max(0.0, begun + sent / rate - time.monotonic()))
                control.send(sent)
            elif command[0] == "stop":
                break
    except (OSError, EOFError):
        pass
    finally:
        for conn in newest:
            conn.close()
        listener.close()


class OperatorTerminal:
    """A client running in a pseudo-terminal of a given size; a thread reads what it draws and
    notes when an awaited string is drawn."""

    def __init__(self, argv: list[str], size: tuple[int, int], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self._lock = threading.Lock()
        self._tail = b""
        self._needle: bytes | None = None
        self._found = threading.Event()
        self.seen_at = 0.0
        self.drawn = 0
        self.keys = 0
        """Keys typed so far: each differs from the one before, and so does its echo."""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not data:
                return
            if DUMP:
                with open(DUMP, "ab") as dump:
                    dump.write(data)
            with self._lock:
                self.drawn += len(data)
                seen = self._tail + data
                if self._needle is not None and self._needle in seen:
                    self.seen_at = time.perf_counter()
                    self._needle = None
                    self._found.set()
                    seen = b""
                self._tail = seen[-256:]

    def await_drawn(self, needle: bytes) -> None:
        """Watch for `needle` from now on (call before what makes it appear)."""
        with self._lock:
            self._found.clear()
            self._tail = b""
            self._needle = needle

    def drawn_at(self, what: str, timeout: float = WAIT) -> float:
        if not self._found.wait(timeout):
            raise RuntimeError(f"{what} was not drawn within {timeout:g} s")
        return self.seen_at

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        os.close(self.master)


def environment(folder: Path) -> dict[str, str]:
    """Private config, state and runtime dirs (no running server is joined), an xterm."""
    env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor", LANG="C.UTF-8")
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env[name] = str(folder / name.lower())
    runtime = folder / "run"
    runtime.mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    env.pop("CI", None)
    return env


def client_argv(kind: str, folder: Path, sock: Path) -> tuple[list[str], tuple[int, int]]:
    config = folder / "config.toml"
    config.write_text(
        "[discovery]\nqemu = false\nserial = false\n"
        f'[[target]]\nname = "flood"\nconsole = "unix://{sock}"\n'
    )
    profile = os.environ.get("BENCH_PROFILE", "")
    python = [sys.executable, "-m", "cProfile", "-o", profile] if profile else [sys.executable]
    app = [*python, "-m", "console_tui", "--config", str(config)]
    if kind == "app":
        return app, APP_SIZE
    if kind == "attach":
        return [*app[:-2], "attach", "flood", "--config", str(config)], (COLUMNS, ROWS)
    tmux_conf = folder / "tmux.conf"
    tmux_conf.write_text("set -g status off\nset -g escape-time 0\n")
    tmux = ["tmux", "-S", str(folder / "tmux.sock"), "-f", str(tmux_conf)]
    return [*tmux, "new-session", "-x", str(COLUMNS), "-y", str(ROWS), "socat", "-,raw,echo=0",
            f"UNIX-CONNECT:{sock}"], (COLUMNS, ROWS)  # fmt: skip


def measure(kind: str) -> dict[str, object]:
    """Floods, then key echo idle and under a flood, for one client."""
    with tempfile.TemporaryDirectory(prefix="ctui-vs-tmux-", dir="/tmp") as name:
        folder = Path(name)
        sock = folder / "console.sock"
        spawn = multiprocessing.get_context("spawn")
        control, far = spawn.Pipe()
        peer_process = spawn.Process(target=peer, args=(str(sock), far))
        peer_process.start()
        terminal: OperatorTerminal | None = None
        try:
            if not control.poll(WAIT) or control.recv() != "listening":
                raise RuntimeError("the peer did not start")
            argv, size = client_argv(kind, folder, sock)
            terminal = OperatorTerminal(argv, size, environment(folder))
            ready(control, terminal, kind)
            floods = []
            drawn, cpu = terminal.drawn, client_cpu(terminal.process.pid, folder)
            for run in range(RUNS):
                marker = f"FLOOD-OVER-{run}Z".encode()
                terminal.await_drawn(marker)
                begun = time.perf_counter()
                control.send(("flood", FLOOD_BYTES, 0.0, 0.0))
                control.recv()
                control.send(("say", b"\r\n" + marker + b"\r\n"))
                floods.append(terminal.drawn_at(f"{kind}: the flood's last line") - begun)
            drawn, cpu = terminal.drawn - drawn, client_cpu(terminal.process.pid, folder) - cpu
            region = f"\x1b[2J\x1b[2;{ROWS}r\x1b[{ROWS};1H".encode()
            say(control, terminal, region, b"QUIET-0\r\n", "the quiet line")
            idle = echoes(terminal, IDLE_KEYS, kind)
            control.send(("flood", 0, FLOOD_RATE, FLOOD_ECHO_SECONDS))
            busy: list[float] = []
            while not control.poll():
                busy.extend(echoes(terminal, 1, kind))
                time.sleep(0.03)
            taken = control.recv() / FLOOD_ECHO_SECONDS
            control.send(("stop",))
        finally:
            if terminal is not None:
                terminal.close()
            peer_process.join(10)
            if peer_process.is_alive():
                peer_process.kill()
                peer_process.join()
            stop_tmux(folder)
        return {
            "flood": floods,
            "idle": idle,
            "busy": busy,
            "taken": taken,
            "drawn": drawn / RUNS,
            "cpu": cpu / RUNS,
        }


def ready(control: Connection, terminal: OperatorTerminal, kind: str) -> None:
    """Until the client shows a line the peer sends, it has not connected for good."""
    deadline = time.monotonic() + WAIT
    terminal.await_drawn(b"READY-0")
    while time.monotonic() < deadline:
        if kind == "app":  # Enter opens the highlighted target, once the list has the focus
            terminal.type(b"\r")
        control.send(("say", b"\x1b[2J\x1b[HREADY-0\r\n"))
        with contextlib.suppress(RuntimeError):
            terminal.drawn_at("the first line", 1.0)
            return
    raise RuntimeError(f"{kind} did not connect to the console")


def client_cpu(pid: int, folder: Path) -> float:
    """CPU seconds used so far by the client `pid` and its process group, and for tmux by its
    server and the server's children (the pane's socat) too."""
    server = tmux_server(folder)
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            ppid, group, number = int(fields[1]), int(fields[2]), int(entry.name)
            if pid in (number, group) or (server and server in (number, ppid)):
                total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def say(
    control: Connection, terminal: OperatorTerminal, before: bytes, line: bytes, what: str
) -> None:
    terminal.await_drawn(line.strip())
    control.send(("say", before + line))
    terminal.drawn_at(what)


def echoes(terminal: OperatorTerminal, count: int, kind: str) -> list[float]:
    """Type `count` keys one after another; each one's echo time in ms."""
    times = []
    for _ in range(count):
        terminal.keys += 1
        key = ord("a") + terminal.keys % 26
        terminal.await_drawn(echo_word(key))
        pressed = time.perf_counter()
        terminal.type(bytes([key]))
        times.append((terminal.drawn_at(f"{kind}: the echo of a key") - pressed) * 1000)
        time.sleep(0.02)
    return times


def tmux_server(folder: Path) -> int:
    """The pid of this run's tmux server, or 0 when there is none."""
    sock = folder / "tmux.sock"
    if not sock.exists():
        return 0
    found = subprocess.run(
        ["tmux", "-S", str(sock), "display-message", "-p", "#{pid}"],
        capture_output=True,
        text=True,
        check=False,
    )
    answer = found.stdout.strip()
    return int(answer) if found.returncode == 0 and answer.isdigit() else 0


def stop_tmux(folder: Path) -> None:
    """The tmux server of this run, by the pid it reports (never by name)."""
    server = tmux_server(folder)
    if server:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server, signal.SIGTERM)


async def frame_times() -> tuple[float, float]:
    """Median ms of a full-screen 200x50 change: the terminal widget's, bare Textual's."""
    from textual.app import App, ComposeResult
    from textual.geometry import Size
    from textual.scroll_view import ScrollView
    from textual.strip import Strip

    from console_tui.ui.widgets.terminal import TerminalView

    class Bare(ScrollView):
        """Strips handed in, drawn as they are, in the same frame (border, scrollbar's column)."""

        DEFAULT_CSS = """
        Bare {
            overflow-x: hidden;
            scrollbar-size-vertical: 1;
            scrollbar-gutter: stable;
            border: tall $primary;
        }
        """

        def __init__(self) -> None:
            super().__init__()
            self.strips: list[Strip] = []
            self.virtual_size = Size(COLUMNS, ROWS)

        def render_line(self, y: int) -> Strip:
            return self.strips[y] if y < len(self.strips) else Strip.blank(COLUMNS)

    class Frames(App[None]):
        CSS = "Bare, TerminalView { width: 203; height: 52; }"

        def __init__(self, bare: bool) -> None:
            super().__init__()
            self.bare = bare

        def compose(self) -> ComposeResult:
            yield Bare() if self.bare else TerminalView(columns=COLUMNS, rows=ROWS)

    results = []
    for bare in (False, True):
        app = Frames(bare)
        async with app.run_test(size=(COLUMNS + 3, ROWS + 2)) as pilot:
            await pilot.pause()
            compositor = app.screen._compositor
            times = []
            if bare:
                widget = app.query_one(Bare)
                painter_view = TerminalView(columns=COLUMNS, rows=ROWS)
                model, painter = painter_view.screen_model, painter_view.painter
            else:
                view = app.query_one(TerminalView)
                view.focus()
                assert view.screen_model.size == (COLUMNS, ROWS), view.screen_model.size
            gc.collect()
            for frame in range(FRAMES):
                if bare:
                    model.feed(full_screen(frame))
                    strips = [painter.strip(row) for row in model.rows()]
                    begin = time.perf_counter()
                    widget.strips = strips
                    widget.refresh()
                else:
                    view.screen_model.feed(full_screen(frame))
                    begin = time.perf_counter()
                    view.sync_now()
                compositor.render_update(full=True).render_segments(app.console)
                times.append((time.perf_counter() - begin) * 1000)
            results.append(statistics.median(times))
    return results[0], results[1]


def main() -> None:
    if shutil.which("tmux") is None or shutil.which("socat") is None:
        raise SystemExit("app_vs_tmux needs tmux and socat (see the Makefile's DEB_PACKAGES)")
    kinds = [kind for kind in ("tmux", "attach", "app") if kind in sys.argv[1:]] or KINDS
    figures = {kind: measure(kind) for kind in kinds}
    flood = {kind: statistics.median(f["flood"]) for kind, f in figures.items()}  # type: ignore[arg-type]
    anchor = flood.get("tmux", float("nan"))
    print(
        f"20 MB flood, {COLUMNS}x{ROWS}, until the last line is on the terminal (median of {RUNS})"
    )
    for kind in kinds:
        runs = " ".join(f"{t:.2f}" for t in figures[kind]["flood"])  # type: ignore[union-attr]
        per_run = f"{figures[kind]['drawn'] / 1e6:5.1f} MB drawn, {figures[kind]['cpu']:5.1f} s CPU"
        print(
            f"  {kind:<8} {flood[kind]:6.2f} s  {flood[kind] / anchor:5.2f}x tmux   "
            f"{per_run} a run   ({runs})"
        )
    print("key echo drawn at the operator's terminal, ms")
    print(
        f"  {'':<8} {'idle p50':>9} {'1 MB/s p50':>11} {'1 MB/s p99':>11} {'keys':>6} "
        f"{'flood taken':>12}"
    )
    for kind in kinds:
        idle, busy = figures[kind]["idle"], figures[kind]["busy"]
        assert isinstance(idle, list) and isinstance(busy, list)
        print(
            f"  {kind:<8} {statistics.median(idle):9.1f} {statistics.median(busy):11.1f} "
            f"{percentile(busy, 0.99):11.1f} {len(busy):6d} "
            f"{figures[kind]['taken'] / 1e6:7.2f} MB/s"  # type: ignore[operator]
        )
    widget, bare = asyncio.run(frame_times())
    print(f"frame, {COLUMNS}x{ROWS} full-screen change, median of {FRAMES}")
    print(
        f"  terminal widget {widget:6.2f} ms   bare Textual {bare:6.2f} ms   {widget / bare:5.2f}x"
    )


__all__ = ["COLOURS", "main"]

if __name__ == "__main__":
    main()

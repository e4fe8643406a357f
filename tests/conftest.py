"""Shared fixtures and helpers. Every test runs with its own config, state and runtime dirs.

Tests that need a real peer (the demo guest, socat, ser2net, ssh) use `need_command`: it skips on a
developer machine without the peer but fails in CI (`CI=true`), where every peer must be installed.
The peers themselves are in peers.py. Test files import both the same way: `from conftest import
...`, `from peers import ...` (pytest puts this folder on the import path).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from console_tui.core import config
from console_tui.ui.screens.main import MainScreen

if TYPE_CHECKING:
    from peers import EchoConsole, Keys
    from textual.pilot import Pilot

    from console_tui.core.api import Event, Viewer
    from console_tui.ui.app import ConsoleApp
    from console_tui.ui.widgets.console_pane import ConsolePane

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

APP_SIZE = (140, 40)
"""The terminal size the app runs at in the tests that drive it with Pilot."""


def cli(
    *args: str, timeout: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`console-tui ARGS...` as an operator runs it, to the end."""
    return subprocess.run(
        [sys.executable, "-m", "console_tui", *args],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        input=stdin,
    )


@contextlib.contextmanager
def attach_in_pty(config_path: Path, name: str, rows: int = 30) -> Iterator[Any]:
    """`console-tui attach NAME` in a real pty (pexpect), as an operator's terminal runs it;
    detached with `~.` at the end (it must exit), and stopped by its PID whatever happened."""
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "console_tui", "--config", str(config_path), "attach", name],
        env=dict(os.environ),
        timeout=20,
        dimensions=(rows, 120),
    )
    try:
        yield child
        child.send("\r~.")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


@contextlib.contextmanager
def capture_daemon(config_path: Path) -> Iterator[str]:
    """`console-tui serve --no-ssh` until its first lines say what it holds; stopped by PID."""
    process = subprocess.Popen(
        [sys.executable, "-m", "console_tui", "--config", str(config_path), "serve", "--no-ssh"],
        bufsize=0,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    said = b""
    deadline = time.monotonic() + 30
    try:
        while b"join through" not in said:
            ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
            line = process.stdout.readline() if ready else b""
            assert line, f"serve --no-ssh did not start: {said!r}"
            said += line
        yield said.decode()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, said


@pytest.fixture
def console(tmp_path: Path) -> Iterator[EchoConsole]:
    """An echoing console on a unix socket (socat and a pty); the test speaks as the guest."""
    from peers import EchoConsole

    need_command("socat")
    peer = EchoConsole(tmp_path)
    yield peer
    peer.close()


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    """Throwaway ssh keys for `serve`'s users."""
    from peers import Keys

    need_command("ssh", "ssh-keygen")
    folder = tmp_path / "keys"
    folder.mkdir()
    return Keys(folder)


def audit_events(event: str) -> list[dict[str, object]]:
    """The audit log's records of one kind of event."""
    from console_tui.core.audit import audit_path

    path = audit_path()
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in entries if e["event"] == event]


def need_command(*commands: str) -> None:
    """Skip (locally) or fail (in CI) unless every command is on PATH."""
    missing = [c for c in commands if shutil.which(c) is None]
    if missing:
        message = f"needs {', '.join(missing)} (make test installs them)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def table_rows(text: str) -> dict[str, dict[str, str]]:
    """The `list` table as {target: {column: value}}; only the last column (ALERT) holds spaces."""
    header, *rows = text.splitlines()
    names = header.split()
    return {
        row.split()[0]: dict(zip(names, row.split(maxsplit=len(names) - 1), strict=True))
        for row in rows
    }


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point platformdirs (XDG) at a fresh folder so tests never touch the user's files."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_RUNTIME_DIR", "run"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        (home / sub).mkdir(mode=0o700)
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("CONSOLE_TUI_CONFIG", raising=False)
    # Only configured targets, unless a test turns discovery on: this machine runs other QEMUs.
    monkeypatch.setenv("CONSOLE_TUI_DISCOVERY", "off")
    return home


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A folder with a short path for Unix sockets (a socket path must fit in 107 bytes), removed
    with all it holds when the test ends."""
    with tempfile.TemporaryDirectory(prefix="ctui-", dir="/tmp") as name:
        yield Path(name)


@pytest.fixture(scope="session")
def guest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("guest")


@pytest.fixture(scope="session")
def guest(guest_dir: Path) -> Iterator[object]:
    """The demo guest (a real Linux under QEMU), booted once per test run, shared by tests.

    Tests that crash or reboot it (NMI, reset) wait for its ready line again before they end.
    """
    need_command("qemu-system-x86_64", "busybox")
    from console_tui import lab

    demo = lab.Lab(guest_dir)
    info = demo.up(timeout=120)
    try:
        yield info
    finally:
        demo.down()


# -- waiting --------------------------------------------------------------------------------


def wait_for(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Poll `check` until it holds, blocking, for tests with no event loop (bounded)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


async def until(
    pilot: Pilot, condition: Callable[[], object], what: str, timeout: float = 10.0
) -> None:
    """Let the app run until `condition` holds (bounded: fails after `timeout` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def next_event(viewer: Viewer, kind: str, timeout: float = 5.0) -> Event:
    """The viewer's next event of `kind`, skipping the others."""
    async with asyncio.timeout(timeout):
        async for event in viewer.events():
            if event.kind == kind:
                return event
    raise AssertionError(f"the viewer was detached before a {kind} event")


async def state_until(viewer: Viewer, state: str, timeout: float = 5.0) -> None:
    """Wait for the viewer to be told its session is in `state`."""
    async with asyncio.timeout(timeout):
        while (await next_event(viewer, "state", timeout)).text != state:
            pass


async def notice_until(
    viewer: Viewer, words: str, kind: str = "notice", timeout: float = 5.0
) -> str:
    """Wait for an event of `kind` (a notice, or the detached event) whose text holds `words`;
    return its text."""
    async with asyncio.timeout(timeout):
        while words not in (text := (await next_event(viewer, kind, timeout)).text):
            pass
    return text


async def output_until(
    viewer: Viewer, needle: bytes, timeout: float = 5.0, snapshots: bool = True
) -> bytes:
    """Wait until the viewer was shown `needle` in output or a snapshot of the screen; return all
    it saw. With `snapshots=False` only live output counts, for text the screen may still show
    from before."""
    kinds = ("output", "snapshot") if snapshots else ("output",)
    seen = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for event in viewer.events():
                if event.kind in kinds:
                    seen.extend(event.data)
                if needle in seen:
                    return bytes(seen)
    except TimeoutError:
        raise AssertionError(
            f"{needle!r} not within {timeout:.0f} s; saw {bytes(seen[-2000:])!r}"
        ) from None
    raise AssertionError(f"{needle!r} never came; saw {bytes(seen)!r}")


# -- the app --------------------------------------------------------------------------------


def make_config(folder: Path, *targets: str) -> config.Config:
    """A config file in `folder` made of TOML `targets`, loaded as the app loads it."""
    path = folder / "config.toml"
    path.write_text("\n".join(targets))
    return config.load(path)


def target(name: str, sock: Path, **extra: str) -> str:
    """A [[target]] whose console is the Unix socket `sock`; `extra` adds string keys."""
    lines = ["[[target]]", f'name = "{name}"', f'console = "unix://{sock}"']
    lines += [f'{key} = "{value}"' for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def main_screen(app: ConsoleApp) -> MainScreen:
    screen = app.screen_stack[1] if len(app.screen_stack) > 1 else app.screen
    assert isinstance(screen, MainScreen)
    return screen


async def open_console(pilot: Pilot, app: ConsoleApp, name: str) -> ConsolePane:
    """Open the target's console tab and wait until it is attached and connected."""
    pane = await main_screen(app).open_target(name)
    await until(pilot, lambda: pane.viewer is not None, f"{name} attached")
    await until(pilot, lambda: pane.facts.state == "connected", f"{name} connected")
    return pane


# -- a real terminal ------------------------------------------------------------------------


class Tmux:
    """A real terminal for tests where the terminal itself matters: a tmux server of the test's
    own (`tmux -L NAME`, its files in the test's runtime dir), one window of a given size running
    a command; the screen is read back as text. `close` kills that server, and only it."""

    def __init__(self, name: str, columns: int, rows: int) -> None:
        need_command("tmux")
        settings = Path(os.environ.get("XDG_RUNTIME_DIR", tempfile.gettempdir())) / "tmux.conf"
        settings.write_text("set -g remain-on-exit on\n")  # the last screen stays readable
        self.base = ["tmux", "-L", f"{name}-{os.getpid()}", "-f", str(settings)]
        self.columns, self.rows = columns, rows
        self.env = dict(os.environ)

    def start(self, *command: str) -> None:
        size = ["-x", str(self.columns), "-y", str(self.rows)]
        env = {
            **os.environ,
            "TMUX_TMPDIR": os.environ.get("XDG_RUNTIME_DIR", tempfile.gettempdir()),
        }
        env.pop("TMUX", None)
        subprocess.run(
            [*self.base, "new-session", "-d", *size, "-s", "test", "--", *command],
            check=True,
            env=env,
        )
        self.env = env

    def send(self, text: str = "", *keys: str) -> None:
        """Type `text` as it is, then named keys (`Enter`, `Escape`)."""
        if text:
            self._tmux("send-keys", "-t", "test", "-l", text)
        if keys:
            self._tmux("send-keys", "-t", "test", *keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-t", "test").stdout

    def _tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.base, *args], capture_output=True, text=True, env=self.env, check=False
        )

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        """Wait until `text` is on the screen (wrapped lines joined); return the screen."""
        deadline = time.monotonic() + timeout
        while text not in (screen := self.screen()):
            assert time.monotonic() < deadline, f"timed out waiting for {text!r}; saw:\n{screen}"
            time.sleep(0.05)
        return screen

    def close(self) -> None:
        self._tmux("kill-server")


@pytest.fixture
def tmux(request: pytest.FixtureRequest) -> Iterator[Callable[[int, int], Tmux]]:
    """Make a Tmux terminal of a size; every one made is killed at the end of the test."""
    made: list[Tmux] = []

    def make(columns: int, rows: int) -> Tmux:
        terminal = Tmux(f"ctui-{request.node.name[:20]}-{len(made)}", columns, rows)
        made.append(terminal)
        return terminal

    yield make
    for terminal in made:
        terminal.close()

"""Render SVG screenshots of the main screens into screenshots/ (run by `make screenshots`).

The inventory and console pictures show a live session on the demo guest, which this starts (and
stops again if it was not already running). The SAC picture is a live session too, on a small
console here that greets as Windows SAC does and echoes: no real Windows can run here. The
small-terminal picture is the demo at 80x24; the line-down picture a target whose VM is not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from console_tui import lab
from console_tui.core import config as config_mod
from console_tui.ui.app import ConsoleApp
from console_tui.ui.screens.main import MainScreen

OUT = Path(__file__).resolve().parents[1] / "screenshots"
SIZE = (140, 40)
SAC_SCREEN = (
    b"Computer is booting, SAC started and initialized.\r\n\r\n"
    b'Use the "ch -?" command for information about using channels.\r\n'
    b'Use the "?" command for general help.\r\n\r\nSAC>'
)


async def _until(pilot: Pilot, condition: Callable[[], object], timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition() and loop.time() < deadline:
        await pilot.pause(0.05)


def _config_text(info: lab.LabInfo, sac_socket: Path) -> str:
    extra = f"""
[[target]]
name = "win-01"
group = "windows"
os = "windows"
console = "unix://{sac_socket}"

[[target]]
name = "web-01"
group = "prod"
console = "unix:///run/vms/web-01.sock?telnet=1"

[discovery]
qemu = false
serial = false
"""
    return info.config_path.read_text() + extra


async def _sac_console(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One client of the SAC look-alike: the greeting and prompt, then an echo (a probe that
    only looks and goes away is fine)."""
    with contextlib.suppress(ConnectionError):
        writer.write(SAC_SCREEN)
        while data := await reader.read(4096):
            writer.write(data.replace(b"\r", b"\r\n"))
    writer.close()


async def _shoot(
    config: config_mod.Config,
    name: str,
    steps: Callable[[ConsoleApp, MainScreen, Pilot], Awaitable[None]],
    *,
    theme: str | None = None,
    size: tuple[int, int] = SIZE,
) -> Path:
    app = ConsoleApp(config, theme=theme, blink=False, who="operator")
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await steps(app, screen, pilot)
        await pilot.pause(0.2)
        path = OUT / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"console-tui: {name}"))
    return path


async def _demo_session(app: ConsoleApp, screen: MainScreen, pilot: Pilot) -> None:
    pane = await screen.open_target(lab.TARGET_NAME)
    await _until(pilot, lambda: pane.facts.state == "connected")
    await pilot.press("enter")
    await _until(pilot, lambda: "#" in pane.terminal.screen_text())
    await pilot.press(*"uname -a", "enter")
    await _until(pilot, lambda: "Linux" in pane.terminal.screen_text())
    await pilot.press(*"ls /", "enter")
    await pilot.pause(0.5)


async def _sysrq(app: ConsoleApp, screen: MainScreen, pilot: Pilot) -> None:
    await _demo_session(app, screen, pilot)
    screen.action_sysrq()


async def _function_keys(app: ConsoleApp, screen: MainScreen, pilot: Pilot) -> None:
    await _demo_session(app, screen, pilot)
    screen.action_function_keys()


async def _sac(app: ConsoleApp, screen: MainScreen, pilot: Pilot) -> None:
    pane = await screen.open_target("win-01")
    await _until(pilot, lambda: pane.terminal.sac_prompt)
    screen.action_sac()


async def _line_down(app: ConsoleApp, screen: MainScreen, pilot: Pilot) -> None:
    pane = await screen.open_target("web-01")
    await _until(pilot, lambda: pane.facts.line_down)


async def main() -> int:
    OUT.mkdir(exist_ok=True)
    demo = lab.Lab()
    started = demo.status() is None
    info = demo.up() if started else demo.status()
    assert info is not None
    try:
        with tempfile.TemporaryDirectory(prefix="ctui-shots-") as folder:
            # The apps keep their transcripts (shown in the pictures) and state under a home of
            # their own: the pictures show ~/.local/state/..., never this machine's paths.
            os.environ["HOME"] = folder
            os.environ["XDG_STATE_HOME"] = str(Path(folder) / ".local" / "state")
            config_path = Path(folder) / "config.toml"
            sac_socket = Path(folder) / "win-01.sock"
            config_path.write_text(_config_text(info, sac_socket))
            config = config_mod.load(config_path)
            sac = await asyncio.start_unix_server(_sac_console, str(sac_socket))
            try:
                shots = [
                    await _shoot(config, "inventory", _demo_session),
                    await _shoot(config, "sysrq", _sysrq),
                    await _shoot(config, "function-keys", _function_keys),
                    await _shoot(config, "sac", _sac),
                    await _shoot(config, "high-contrast", _demo_session, theme="high-contrast"),
                    await _shoot(config, "small-terminal", _demo_session, size=(80, 24)),
                    await _shoot(config, "line-down", _line_down, size=(100, 30)),
                ]
            finally:
                sac.close()
                await sac.wait_closed()
    finally:
        if started:
            demo.down()
    for shot in shots:
        print(shot.relative_to(OUT.parent))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""The console rules hold the same for every way in: at a Windows SAC> prompt an arrow key is
refused with the same words in the full-screen app, in `console-tui attach` and over
`ssh -t console@host NAME`, and never reaches the console.

The console is socat joining a unix socket to a pty; the test speaks as the guest on the pty and
prints the prompt of Windows' Special Administration Console (no real Windows can run here).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect
import pytest
from conftest import main_screen, need_command, open_console, until
from peers import EchoConsole, Keys, start_server, users_toml

from console_tui.core import config, keys
from console_tui.ui.app import ConsoleApp

pytestmark = pytest.mark.debian

REFUSAL = f"up not sent: {keys.SAC_PROMPT_REFUSAL}"
UP = b"\x1b[A"


def box(console: EchoConsole) -> str:
    return f'[[target]]\nname = "box"\nos = "windows"\nconsole = "unix://{console.path}"\n'


def at_the_sac_prompt(child: pexpect.spawn, console: EchoConsole) -> None:
    console.say(b"\r\nSAC>")
    child.expect_exact("SAC>")


async def test_the_app_refuses_an_arrow_at_sac(console: EchoConsole) -> None:
    app = ConsoleApp(config.parse(box(console)), probe=False, blink=False)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = main_screen(app)
        pane = await open_console(pilot, app, "box")
        console.say(b"\r\nSAC>")
        await until(pilot, lambda: pane.terminal.sac_prompt, "the SAC> prompt")
        await pilot.press("up")
        announce = screen.query_one("#announce")
        await until(pilot, lambda: REFUSAL in str(announce.render()), "the refusal")
        await pilot.press("c", "h", "enter")
        await until(pilot, lambda: b"ch\r" in console.got(), "typed text still goes")
    assert UP not in console.got()


def test_attach_refuses_an_arrow_at_sac(console: EchoConsole, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(box(console))
    child = pexpect.spawn(
        sys.executable, ["-m", "console_tui", "--config", str(cfg), "attach", "box"], timeout=10
    )
    try:
        child.expect_exact("attached to box")
        at_the_sac_prompt(child, console)
        child.send(UP)
        child.expect_exact(REFUSAL)
        child.send("ch\r")
        console.wait_received(b"ch\r")
        child.send("\r~.")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert UP not in console.got()


def test_ssh_attach_refuses_an_arrow_at_sac(console: EchoConsole, tmp_path: Path) -> None:
    need_command("ssh", "ssh-keygen")
    folder = tmp_path / "keys"
    folder.mkdir()
    keyring = Keys(folder)
    server = start_server(
        tmp_path, box(console) + users_toml(keyring, {"ann": "operator"}, {}), keyring
    )
    try:
        child = server.spawn("ann", "box")
        try:
            child.expect_exact("attached to box")
            at_the_sac_prompt(child, console)
            child.send(UP)
            child.expect_exact(REFUSAL)
            child.send("ch\r")
            console.wait_received(b"ch\r")
        finally:
            child.close()
    finally:
        server.stop()
    assert UP not in console.got()

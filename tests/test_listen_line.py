"""`unix+listen://`: we listen and the demo guest's QEMU dials in (`-chardev socket,...,server=off`),
and SysRq on such a raw line goes through QMP `send-key` (it cannot carry a BREAK).

One QEMU for the module, booted inside the first test so that the line is seen waiting first.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    APP_SIZE,
    attach_in_pty,
    audit_events,
    cli,
    main_screen,
    need_command,
    open_console,
    output_until,
    state_until,
    until,
)
from textual.widgets import Label

from console_tui import lab
from console_tui.core import config
from console_tui.core.hub import Hub
from console_tui.core.recording import recording_path
from console_tui.ui.app import ConsoleApp
from console_tui.ui.commands import console_commands
from console_tui.ui.dialogs.sysrq import SysRqDialog


class DiallingGuest:
    """The demo guest whose serial chardev connects to `sock` (reconnecting every second)."""

    def __init__(self, folder: Path) -> None:
        self.sock = folder / "line.sock"
        self.lab = lab.Lab(folder / "vm", serial=f"socket,path={self.sock},server=off,reconnect=1")
        self.config_path = folder / "config.toml"
        self.config_path.write_text(
            "[[target]]\n"
            'name = "dialler"\n'
            f'console = "unix+listen://{self.sock}"\n'
            f'control = "qmp://{self.lab.qmp_socket}"\n'
        )
        self.booted = False

    def boot(self) -> None:
        """Start the QEMU (once), returning when the guest is ready."""
        if not self.booted:
            self.lab.up(120)
            self.booted = True


async def line_state(hub: Hub, name: str, state: str, timeout: float = 30) -> None:
    """Wait until the target's line is in `state` (asked of the Hub: a viewer's queue may have
    dropped the event under a boot's output)."""
    async with asyncio.timeout(timeout):
        while hub.status(name).state != state:
            await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def dialling() -> Iterator[DiallingGuest]:
    need_command("qemu-system-x86_64", "busybox")
    folder = Path(tempfile.mkdtemp(prefix="ctui-", dir="/tmp"))
    guest = DiallingGuest(folder)
    try:
        yield guest
    finally:
        guest.lab.down()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.guest
async def test_the_line_waits_for_the_vm_then_carries_it_both_ways(
    dialling: DiallingGuest,
) -> None:
    hub = Hub(config.load(dialling.config_path))
    try:
        viewer = await hub.attach("dialler")
        await state_until(viewer, "waiting")
        status = hub.status("dialler")
        assert status.state == "waiting"
        assert status.detail == f"waiting for the VM to connect to {dialling.sock}"
        assert oct(dialling.sock.stat().st_mode & 0o777) == "0o600"
        assert not hub.can_break("dialler").ok
        assert hub.can_sysrq("dialler").ok, "a control gives SysRq without a BREAK"

        await asyncio.to_thread(dialling.boot)
        await line_state(hub, "dialler", "connected")
        # The boot may have filled the viewer's queue, so later output may come as a snapshot:
        # each answer below differs from what was typed, so a snapshot holding it is proof.
        await hub.write(viewer, b"echo sum=$((40+2))\r")
        await output_until(viewer, b"sum=42", timeout=20)

        said = await hub.sysrq(viewer, "h")
        assert said == "SysRq h sent through QMP send-key: this line cannot carry a BREAK"
        await output_until(viewer, b"sysrq: HELP", timeout=20)

        # The VM's connection goes; QEMU dials back in and the same session takes it.
        await hub.reconnect(viewer)
        await line_state(hub, "dialler", "connected")
        await hub.write(viewer, b"echo back=$((5*5))\r")
        await output_until(viewer, b"back=25", timeout=20)
    finally:
        await hub.close()
    [record] = [r for r in audit_events("sysrq") if r["target"] == "dialler"]
    assert record["path"] == "QMP send-key" and record["keys"] == "h"
    marks = [
        json.loads(line)[2]
        for line in recording_path("dialler").read_text().splitlines()[1:]
        if json.loads(line)[1] == "m"
    ]
    assert any(m.endswith("sent SysRq h through QMP send-key") for m in marks), marks


@pytest.mark.guest
def test_send_sysrq_on_a_raw_line_says_it_went_through_qmp(dialling: DiallingGuest) -> None:
    dialling.boot()
    start = dialling.lab.serial_log.stat().st_size
    result = cli("--config", str(dialling.config_path), "send", "dialler", "--sysrq", "h")
    assert result.returncode == 0, result.stderr
    assert "SysRq h sent through QMP send-key: this line cannot carry a BREAK" in result.stderr
    dialling.lab.wait_for("sysrq: HELP", start=start, timeout=30)


def test_a_file_in_the_way_of_the_socket_is_refused_and_kept(tmp_path: Path) -> None:
    """Bad input loses nothing: a regular file where the socket should be stays as it was."""
    blocker = tmp_path / "line.sock"
    blocker.write_text("keep me")
    (tmp_path / "c.toml").write_text(
        f'[[target]]\nname = "x"\nconsole = "unix+listen://{blocker}"\n'
    )
    result = cli("--config", str(tmp_path / "c.toml"), "send", "x", "--text", "hi")
    assert result.returncode == 3, result.stderr
    assert f"unix+listen: {blocker}: exists and is not a socket" in result.stderr
    assert "remove that file or choose another path" in result.stderr
    assert blocker.read_text() == "keep me"


@pytest.mark.guest
async def test_the_app_says_sysrq_went_through_qmp(dialling: DiallingGuest) -> None:
    await asyncio.to_thread(dialling.boot)
    app = ConsoleApp(config.load(dialling.config_path), blink=False, probe=False)
    async with app.run_test(size=APP_SIZE) as pilot:
        pane = await open_console(pilot, app, "dialler")
        screen = main_screen(app)
        assert screen.unavailable("sysrq") == ""
        assert "a raw socket carries no BREAK" in screen.unavailable("send_break")
        [help_key] = [c for c in console_commands(screen) if c.name.startswith("SysRq h:")]
        assert help_key.help == "Alt+SysRq+h through the control, to dialler"
        assert help_key.unavailable == ""
        screen.action_sysrq()
        await until(
            pilot,
            lambda: isinstance(app.screen, SysRqDialog) and bool(app.screen.query("#way")),
            "the SysRq dialog saying how the keys go",
        )
        way = str(app.screen.query_one("#way", Label).render())
        assert "each key goes as Alt+SysRq+key on the machine's keyboard" in way
        await pilot.press("escape")
        pane.send_sysrq("h")
        announce = screen.query_one("#announce")
        await until(
            pilot,
            lambda: (
                "dialler: SysRq h sent through QMP send-key: this line cannot carry a BREAK"
                in str(announce.render())
            ),
            "the announcement of the SysRq path",
            timeout=20,
        )


@pytest.mark.guest
def test_attach_tilde_s_says_it_goes_through_the_keyboard(dialling: DiallingGuest) -> None:
    dialling.boot()
    with attach_in_pty(dialling.config_path, "dialler") as child:
        child.expect_exact("attached to dialler")
        child.send("\r~s")
        child.expect_exact("SysRq key? (through the control's keyboard, as this line cannot BREAK")
        child.send("h")
        child.expect_exact("SysRq h sent through QMP send-key: this line cannot carry a BREAK")
        child.expect_exact("sysrq: HELP")


async def test_a_vm_that_dials_again_is_taken_back_at_once(sock_dir: Path) -> None:
    """The VM end here is a plain Unix-socket client, to drive the timing of its redials: a second
    connection while the first is held replaces it, and one made the moment the last dropped
    finds the socket still there."""
    sock = sock_dir / "line.sock"
    path = sock_dir / "config.toml"
    path.write_text(f'[[target]]\nname = "vm"\nconsole = "unix+listen://{sock}"\n')
    hub = Hub(config.load(path))
    try:
        viewer = await hub.attach("vm")
        await line_state(hub, "vm", "waiting")
        first_reader, first = await asyncio.open_unix_connection(sock)
        first.write(b"one\r\n")
        await output_until(viewer, b"one")
        second_reader, second = await asyncio.open_unix_connection(sock)
        async with asyncio.timeout(5):
            assert await first_reader.read() == b"", "the older connection is let go"
        await line_state(hub, "vm", "connected")
        second.write(b"two\r\n")
        await output_until(viewer, b"two")
        await hub.write(viewer, b"to the second\r")
        assert await second_reader.readuntil(b"\r") == b"to the second\r"
        second.close()
        _, third = await asyncio.open_unix_connection(sock)  # no gap: the socket is there
        third.write(b"three\r\n")
        await output_until(viewer, b"three")
        third.close()
    finally:
        await hub.close()
    assert not sock.exists(), "a closed session stops listening and removes its socket"

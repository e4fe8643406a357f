"""`file://`: a read-only follow of a VM's output file, across logrotate's rotations (real
`logrotate`, both its `create` rename and its `copytruncate`), with every write action refused."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from conftest import APP_SIZE, attach_in_pty, cli, main_screen, need_command, open_console, until

from console_tui.core import config
from console_tui.core.errors import NotPermittedError
from console_tui.core.hub import Hub
from console_tui.ui.app import ConsoleApp


def lines(first: int, last: int) -> bytes:
    return b"".join(b"line %04d\r\n" % n for n in range(first, last + 1))


def config_for(folder: Path, log: Path) -> Path:
    path = folder / "config.toml"
    path.write_text(f'[[target]]\nname = "vmlog"\nconsole = "file://{log}"\n')
    return path


def logrotate(folder: Path, log: Path, mode: str) -> None:
    """Rotate `log` now with the real logrotate, `mode` being `create` or `copytruncate`."""
    conf = folder / f"{mode}.conf"
    conf.write_text(f"{log} {{\n  rotate 3\n  {mode}\n  missingok\n}}\n")
    conf.chmod(0o600)
    subprocess.run(
        ["logrotate", "-f", "-s", str(folder / "logrotate.state"), str(conf)],
        check=True,
        capture_output=True,
    )


async def transcript_until(path: Path, last: bytes, timeout: float = 10) -> bytes:
    """The transcript once it holds `last`."""
    async with asyncio.timeout(timeout):
        while last not in (data := path.read_bytes() if path.exists() else b""):
            await asyncio.sleep(0.05)
    return data


async def test_rotation_and_truncation_read_every_line_once(tmp_path: Path) -> None:
    need_command("logrotate")
    log = tmp_path / "vm.log"
    log.write_bytes(lines(1, 100))
    hub = Hub(config.load(config_for(tmp_path, log)))
    try:
        viewer = await hub.attach("vmlog", wait=5)
        transcript = Path(hub.status("vmlog").transcript)
        await transcript_until(transcript, b"line 0100")

        # logrotate's create: the file is renamed away; the VM still writes to it a little
        # before it opens the new file at the path.
        with log.open("ab") as old:
            logrotate(tmp_path, log, "create")
            old.write(lines(101, 110))
        with log.open("ab") as new:
            new.write(lines(111, 120))
        await transcript_until(transcript, b"line 0120")

        # logrotate's copytruncate: the file is copied and cut to nothing in place.
        logrotate(tmp_path, log, "copytruncate")
        assert log.stat().st_size == 0
        with log.open("ab") as same:
            same.write(lines(121, 125))
        data = await transcript_until(transcript, b"line 0125")
        assert hub.status("vmlog").state == "connected"
        assert viewer.id in hub.sessions["vmlog"].viewers
    finally:
        await hub.close()
    seen = [line for line in data.split(b"\r\n") if line.startswith(b"line ")]
    assert seen == lines(1, 125).split(b"\r\n")[:-1], "each line once, in order"


async def test_every_write_action_is_refused_with_the_reason(tmp_path: Path) -> None:
    log = tmp_path / "vm.log"
    log.write_bytes(b"booting\r\n")
    hub = Hub(config.load(config_for(tmp_path, log)))
    try:
        viewer = await hub.attach("vmlog", wait=5)
        status = hub.status("vmlog")
        assert status.state == "connected" and status.writer == "", "nobody holds a write lock"
        for capability in (status.can_write, status.can_break, status.can_sysrq):
            assert not capability.ok
            assert "an output file is read-only" in capability.reason
        for action in (
            hub.write(viewer, b"reboot\r"),
            hub.send_keys(viewer, ["f2"]),
            hub.send_break(viewer),
            hub.sysrq(viewer, "h"),
            hub.sync_size(viewer, 80, 24),
            hub.request_lock(viewer),
        ):
            with pytest.raises(NotPermittedError, match="an output file is read-only"):
                await action
    finally:
        await hub.close()
    assert log.read_bytes() == b"booting\r\n"


def test_send_to_a_file_line_exits_4_and_says_why(tmp_path: Path) -> None:
    log = tmp_path / "vm.log"
    log.write_bytes(b"booting\r\n")
    result = cli("--config", str(config_for(tmp_path, log)), "send", "vmlog", "--text", "x")
    assert result.returncode == 4, result.stderr
    assert "cannot type on the console: an output file is read-only" in result.stderr
    assert log.read_bytes() == b"booting\r\n"


def test_a_missing_file_says_what_and_how_to_fix(tmp_path: Path) -> None:
    log = tmp_path / "absent.log"
    result = cli("--config", str(config_for(tmp_path, log)), "send", "vmlog", "--text", "x")
    assert result.returncode == 3, result.stderr
    assert f"file: {log}: does not exist" in result.stderr
    assert "the VM creates its output file when it starts" in result.stderr


async def test_the_app_shows_write_actions_disabled_with_the_reason(tmp_path: Path) -> None:
    log = tmp_path / "vm.log"
    log.write_bytes(b"booting\r\n")
    app = ConsoleApp(config.load(config_for(tmp_path, log)), blink=False, probe=False)
    async with app.run_test(size=APP_SIZE) as pilot:
        await open_console(pilot, app, "vmlog")
        screen = main_screen(app)
        for action in ("send_break", "sysrq", "function_keys", "sync_size", "paste"):
            assert "an output file is read-only" in screen.unavailable(action), action
        await pilot.press("ctrl+f6")
        announce = screen.query_one("#announce")
        screen.announce("")
        await pilot.press("f5")
        await until(
            pilot,
            lambda: "an output file is read-only" in str(announce.render()),
            "the reason BREAK is unavailable",
        )
    assert log.read_bytes() == b"booting\r\n"


def test_attach_to_a_file_line_says_it_is_watch_only(tmp_path: Path) -> None:
    log = tmp_path / "vm.log"
    log.write_bytes(b"booting\r\n")
    with attach_in_pty(config_for(tmp_path, log), "vmlog") as child:
        child.expect_exact("attached to vmlog; ~? for help, ~. to detach (watch only: an output")
        child.expect_exact("booting")
        with log.open("ab") as vm:
            vm.write(b"login: ")
        child.expect_exact("login: ")
        child.send("root\r")
        child.expect_exact("an output file is read-only")
    assert log.read_bytes() == b"booting\r\nlogin: "

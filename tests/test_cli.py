"""The entry points, run as an operator runs them, against the demo guest and real sockets."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import cli, output_until, state_until, table_rows

from console_tui import lab
from console_tui.core import config
from console_tui.core.hub import Hub
from console_tui.core.transcript import read_transcript


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return str(path)


# -- config and usage errors ----------------------------------------------------------------


def test_config_error_exits_2_with_file_line_and_fix(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, '[[target]]\nname = "a"\nconsole = "tcp://h:1"\ncolor = 1\n')
    result = cli("--config", cfg, "list")
    assert result.returncode == 2
    assert f"{cfg}:4: unknown key 'color'" in result.stderr
    assert "use one of" in result.stderr


def test_config_may_follow_the_command(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "")
    result = cli("list", "--config", cfg, "--json")
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_unknown_target_exits_2_and_names_the_known_ones(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, '[[target]]\nname = "web-01"\nconsole = "tcp://127.0.0.1:9"\n')
    result = cli("--config", cfg, "send", "web-1", "--break")
    assert result.returncode == 2
    assert "no target named 'web-1' (did you mean 'web-01'?)" in result.stderr


def test_unreachable_exits_3_and_says_why(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path, f'[[target]]\nname = "gone"\nconsole = "unix://{tmp_path}/x.sock"\n'
    )
    result = cli("--config", cfg, "send", "gone", "--text", "x")
    assert result.returncode == 3
    assert "does not exist" in result.stderr and "x.sock" in result.stderr
    listed = json.loads(cli("--config", cfg, "list", "--json").stdout)
    assert listed[0]["state"] == "unreachable" and "does not exist" in listed[0]["detail"]


def test_break_on_a_raw_socket_is_refused_with_the_reason(tmp_path: Path) -> None:
    """A raw unix socket carries no BREAK: refused with exit 4 before anything is sent."""
    path = tmp_path / "raw.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    try:
        cfg = write_config(tmp_path, f'[[target]]\nname = "raw"\nconsole = "unix://{path}"\n')
        for action in (["--break"], ["--sysrq", "h"]):
            result = cli("--config", cfg, "send", "raw", *action)
            assert result.returncode == 4, result.stderr
            assert "raw socket carries no BREAK" in result.stderr
    finally:
        server.close()


def test_nmi_without_a_terminal_needs_yes(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, '[[target]]\nname = "a"\nconsole = "tcp://127.0.0.1:9"\n')
    result = cli("--config", cfg, "send", "a", "--nmi", stdin="")
    assert result.returncode == 2 and "--yes" in result.stderr


def test_nmi_without_a_control_backing_is_refused(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, '[[target]]\nname = "a"\nconsole = "tcp://127.0.0.1:9"\n')
    result = cli("--config", cfg, "send", "a", "--nmi", "--yes")
    assert result.returncode == 4 and "no control backing" in result.stderr


def test_log_refuses_path_tricks() -> None:
    result = cli("log", "../../etc/passwd")
    assert result.returncode == 2 and "bad target name" in result.stderr


# -- against the demo guest -----------------------------------------------------------------


def spawn_attach(guest: lab.LabInfo, rows: int = 30) -> Any:
    """`console-tui attach demo` in a real pty, as an operator's terminal runs it."""
    pexpect = pytest.importorskip("pexpect")
    return pexpect.spawn(
        sys.executable,
        ["-m", "console_tui", "--config", str(guest.config_path), "attach", "demo"],
        env=dict(os.environ),
        timeout=20,
        dimensions=(rows, 120),
    )


@pytest.mark.guest
def test_list_shows_the_guest_reachable_and_running(guest: lab.LabInfo) -> None:
    result = cli("--config", str(guest.config_path), "list", "--json")
    assert result.returncode == 0, result.stderr
    (demo,) = json.loads(result.stdout)
    assert (demo["name"], demo["backing"], demo["state"], demo["power"]) == (
        "demo",
        "unix",
        "reachable",
        "running",
    )
    table = table_rows(cli("--config", str(guest.config_path), "list").stdout)
    assert table["demo"] == {
        "NAME": "demo",
        "GROUP": "lab",
        "BACKING": "unix",
        "CONTROL": "qmp",
        "STATE": "reachable",
        "POWER": "running",
        "WRITER": "-",
        "VIEWERS": "0",
        "ALERT": "-",
    }


@pytest.mark.guest
def test_send_text_runs_a_command(guest: lab.LabInfo) -> None:
    result = cli("--config", str(guest.config_path), "send", "demo", "--text", "uname -a\\r")
    assert result.returncode == 0, result.stderr
    assert "Linux demo" in result.stdout
    assert "console-tui: demo: typed 9 bytes" in result.stderr


@pytest.mark.guest
def test_send_sysrq_h_and_the_transcript_keeps_it(guest: lab.LabInfo) -> None:
    result = cli("--config", str(guest.config_path), "send", "demo", "--sysrq", "h")
    assert result.returncode == 0, result.stderr
    assert "sysrq: HELP" in result.stdout
    log = cli("log", "demo")
    assert "sysrq: HELP" in log.stdout
    assert "uname -a" not in log.stdout.split("sysrq: HELP")[-1]


@pytest.mark.guest
def test_attach_runs_a_command_and_detaches(guest: lab.LabInfo) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = spawn_attach(guest, rows=30)
    try:
        child.expect_exact("attached to demo")
        child.send("\r")
        child.expect_exact("demo:~#")
        child.send("echo $((40+2))\r")
        child.expect_exact("42")
        child.send("\r~?")
        child.expect_exact("~.  detach")
        child.expect_exact("writes")
        child.send("\r~sh")
        child.expect_exact("sysrq: HELP")
        child.send("\r~.")
        child.expect_exact("detached")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


@pytest.mark.guest
async def test_reset_reboots_and_the_session_carries_on(guest: lab.LabInfo) -> None:
    """Reset through QMP; the same session sees the reboot, and a restarted QEMU is reconnected."""
    hub = Hub(config.load(guest.config_path))
    demo = lab.Lab(guest.folder)
    try:
        me = await hub.attach("demo", who="test", wait=10)
        await hub.write(me, b"echo before-reset\r")
        await output_until(me, b"before-reset\r\n", timeout=15, snapshots=False)
        await hub.reset(me)
        await output_until(me, b"console-tui demo guest ready", timeout=90, snapshots=False)
        await hub.write(me, b"\recho after-reset\r")
        await output_until(me, b"after-reset\r\n", timeout=30, snapshots=False)

        demo.down()
        await state_until(me, "reconnecting", timeout=15)
        demo.up(timeout=120)
        await state_until(me, "connected", timeout=30)
        await hub.write(me, b"\recho after-restart\r")
        await output_until(me, b"after-restart\r\n", timeout=30, snapshots=False)
        transcript = b"".join(read_transcript(hub.session("demo").transcript_path))
        order = [
            b"before-reset",
            b"Linux version",
            b"after-reset",
            b"reconnected",
            b"after-restart",
        ]
        positions = [transcript.rfind(word) for word in order]
        assert all(p >= 0 for p in positions) and positions == sorted(positions), positions
    finally:
        await hub.close()
        demo.up(timeout=120)


@pytest.mark.guest
def test_numbered_menu_drives_sysrq_h(guest: lab.LabInfo) -> None:
    """The plain path for screen readers: ~? lists every action; a number and Enter runs it."""
    import re

    pexpect = pytest.importorskip("pexpect")
    child = spawn_attach(guest, rows=80)  # the whole menu on one page
    try:
        child.expect_exact("attached to demo")
        child.send("\r~?")
        child.expect_exact("number> ")
        menu = child.before.decode(errors="replace")
        numbers = dict(
            (label.strip(), int(number))
            for number, label in re.findall(r"^\s*(\d+)  (.+?)\r?$", menu, re.M)
        )
        assert "Send NMI" in numbers and "Function key F12" in numbers and "Detach" in numbers
        child.send(f"{numbers['SysRq h: help: list the keys']}\r")
        child.expect_exact("sent BREAK then SysRq h (help: list the keys)")
        child.expect_exact("sysrq: HELP")
        child.send("\r~?")
        child.expect_exact("number> ")
        child.send("999\r")
        child.expect_exact("no action 999")
        child.send("\r~?")
        child.expect_exact("number> ")
        child.send(f"{numbers['Send NMI']}\r")
        child.expect_exact("send NMI to demo? (y/n)")
        child.send("n")
        child.expect_exact("not sent")
        child.send(f"\r~?{numbers['Detach']}\r")
        child.expect_exact("detached")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0

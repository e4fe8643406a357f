"""The demo guest: it boots a real Linux, gives a root shell on its serial socket, answers SysRq.

The serial tests speak to QEMU's telnet socket chardev through peers.py's TelnetLine (raw asyncio,
telnet options stripped); the socket serves one client at a time, so each test closes it.
"""

from __future__ import annotations

import gzip
import os
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
from conftest import need_command
from peers import TelnetLine

from console_tui import lab
from console_tui.core import config
from console_tui.lab import Lab, LabError, LabInfo

PROMPT = b"demo:~# "


async def shell(info: LabInfo) -> TelnetLine:
    """Connect to the guest's serial socket, in step with a fresh root prompt.

    The shell's echo of the command holds `$((6*7))`, so only its output matches `sync-42`.
    """
    line = await TelnetLine.open(info.serial_socket)
    await line.send(b"\recho sync-$((6*7))\r")
    await line.expect(b"sync-42")
    await line.expect(PROMPT)
    return line


@pytest.mark.guest
def test_guest_printed_the_ready_line(guest: LabInfo) -> None:
    assert lab.READY_LINE.encode() in guest.serial_log.read_bytes()
    assert guest.boot_seconds > 0


@pytest.mark.guest
async def test_root_shell_runs_uname(guest: LabInfo) -> None:
    line = await shell(guest)
    try:
        await line.send(b"uname -a\r")
        output = await line.expect(PROMPT)
    finally:
        await line.close()
    assert b"Linux demo " in output


@pytest.mark.guest
async def test_break_then_h_prints_sysrq_help(guest: LabInfo) -> None:
    line = await shell(guest)
    try:
        await line.send_break()
        await line.send(b"h")
        output = await line.expect(b"sysrq: HELP", timeout=5)
    finally:
        await line.close()
    assert b"sysrq: HELP" in output


@pytest.mark.guest
def test_status_and_up_again_return_the_running_guest(guest: LabInfo) -> None:
    """Other tests may restart the shared guest, so compare with what runs now, not the fixture's pid."""
    demo = Lab(guest.folder)
    running = demo.status()
    assert running is not None
    assert (running.serial_socket, running.qmp_socket, running.config_path) == (
        guest.serial_socket,
        guest.qmp_socket,
        guest.config_path,
    )
    assert demo.up(timeout=10).pid == running.pid, "up() on a running guest boots no second one"


@pytest.mark.guest
def test_config_is_private_and_names_the_guest(guest: LabInfo) -> None:
    assert guest.config_path == Lab(guest.folder).config_path()
    assert stat.S_IMODE(guest.config_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(guest.folder.stat().st_mode) == 0o700
    for name in ("serial.log", "initramfs.cpio.gz", "qemu.pid", "lab.json"):
        assert stat.S_IMODE((guest.folder / name).stat().st_mode) == 0o600, name
    raw = tomllib.loads(guest.config_path.read_text())
    assert raw["target"][0]["group"] == "lab"
    target = config.load(guest.config_path).target("demo")
    assert target.console == f"unix://{guest.serial_socket}?telnet=1"
    assert target.control == f"qmp://{guest.qmp_socket}"
    assert target.os == "linux"


@pytest.mark.guest
def test_own_guest_boots_answers_up_again_and_goes_down(tmp_path: Path) -> None:
    need_command("qemu-system-x86_64", "busybox")
    demo = Lab(tmp_path / "lab")
    assert demo.status() is None
    info = demo.up(timeout=120)
    try:
        assert 0 < info.boot_seconds < 120
        assert demo.up(timeout=10).pid == info.pid
    finally:
        demo.down()
    assert demo.status() is None
    assert not info.serial_socket.exists()
    assert not info.qmp_socket.exists()
    proc = Path(f"/proc/{info.pid}/cmdline")
    assert not proc.exists() or not proc.read_bytes()


@pytest.mark.guest
def test_boot_timeout_quotes_the_log_and_stops_qemu(tmp_path: Path) -> None:
    need_command("qemu-system-x86_64", "busybox")
    demo = Lab(tmp_path / "lab")
    with pytest.raises(LabError) as caught:
        demo.up(timeout=0.3)
    assert "no 'console-tui demo guest ready'" in caught.value.what
    assert "last lines" in caught.value.what
    assert caught.value.where == str(demo.serial_log)
    assert demo.status() is None


def test_missing_kernel_names_the_package(tmp_path: Path) -> None:
    need_command("qemu-system-x86_64")
    missing = tmp_path / "vmlinuz-none"
    with pytest.raises(LabError) as caught:
        Lab(tmp_path / "lab", kernel=missing).up()
    assert caught.value.where == str(missing)
    assert "linux-image-cloud-amd64" in caught.value.fix
    assert caught.value.exit_code == 3


def test_kernel_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_command("qemu-system-x86_64")
    missing = tmp_path / "bzImage"
    monkeypatch.setenv(lab.KERNEL_ENV, str(missing))
    with pytest.raises(LabError) as caught:
        Lab(tmp_path / "lab").up()
    assert caught.value.where == str(missing)


def test_missing_qemu_names_the_packages(tmp_path: Path) -> None:
    with pytest.raises(LabError) as caught:
        Lab(tmp_path / "lab", qemu="qemu-system-none").up()
    assert "qemu-system-none is not installed" in str(caught.value)
    assert lab.DEBIAN_PACKAGES in caught.value.fix


def test_missing_busybox_names_the_package(tmp_path: Path) -> None:
    need_command("qemu-system-x86_64")
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(b"")
    with pytest.raises(LabError) as caught:
        Lab(tmp_path / "lab", kernel=kernel, busybox=tmp_path / "busybox").up()
    assert "busybox-static" in caught.value.fix


def test_default_folder_is_in_the_state_dir() -> None:
    assert Lab().folder == Path(os.environ["XDG_STATE_HOME"]) / "console-tui" / "lab"


def test_newest_kernel_sorts_versions(tmp_path: Path) -> None:
    for version in ("6.1.0-9", "6.1.0-56", "5.10.0-30"):
        (tmp_path / f"vmlinuz-{version}-cloud-amd64").write_bytes(b"")
    (tmp_path / "vmlinuz-6.9.0-1-amd64").write_bytes(b"")
    assert lab.newest_kernel(tmp_path) == tmp_path / "vmlinuz-6.1.0-56-cloud-amd64"
    assert lab.newest_kernel(tmp_path / "empty") is None


def test_initramfs_is_a_cpio_archive_cpio_can_list(tmp_path: Path) -> None:
    need_command("cpio")
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF not really")
    archive = tmp_path / "initramfs.cpio"
    archive.write_bytes(gzip.decompress(lab.build_initramfs(busybox)))
    listing = subprocess.run(
        ["cpio", "-t", "-v", "-F", str(archive)], capture_output=True, text=True, check=True
    ).stdout
    for name in ("init", "bin/busybox", "bin/sh -> busybox", "etc/profile", "dev/console"):
        assert name in listing
    assert "sysrq" in lab.INIT_SCRIPT and "unknown_nmi_panic" in lab.INIT_SCRIPT

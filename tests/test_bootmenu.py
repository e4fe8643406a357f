"""Boot menus for real: the demo guest behind SeaBIOS + GRUB and behind OVMF + GRUB, reset through
QMP, its menus caught and held on the serial console by the Hub, and the GRUB helpers' keys.

Each firmware gets one guest per module (TCG boots are slow); every test starts with a reset, so the
order of the tests does not matter. The GRUB image is built once and cached for the whole run.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from conftest import capture_daemon, cli, need_command, wait_for

from console_tui.core import config
from console_tui.core.api import Viewer
from console_tui.core.hub import Hub
from console_tui.lab import READY_LINE, Lab, LabInfo
from console_tui.lab.bootloader import SECOND_ENTRY_ARG, THIRD_ENTRY_ARG

pytestmark = pytest.mark.guest

MENU_SECONDS = 90.0
"""Bound on reset-to-menu on a loaded machine (TCG); the menu is usually up in 1 to 5 s."""
LONG_ARG = "ctui.long=" + "".join(f"{n:03d}abcdefghij" for n in range(18))


@pytest.fixture(scope="session")
def image_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab-images")


def _guest(boot: str, image_cache: Path) -> Iterator[tuple[Lab, LabInfo]]:
    need_command("qemu-system-x86_64", "busybox", "grub-mkrescue", "xorriso", "mformat")
    import tempfile

    with tempfile.TemporaryDirectory(prefix=f"ctui-{boot}-", dir="/tmp") as folder:
        lab = Lab(Path(folder), boot=boot, image_cache=image_cache)
        info = lab.up(timeout=240)
        try:
            yield lab, info
        finally:
            lab.down()


@pytest.fixture(scope="module")
def bios(image_cache: Path) -> Iterator[tuple[Lab, LabInfo]]:
    """The demo guest on SeaBIOS, booted from the GRUB image."""
    yield from _guest("grub", image_cache)


@pytest.fixture(scope="module")
def uefi(image_cache: Path) -> Iterator[tuple[Lab, LabInfo]]:
    """The demo guest on OVMF, booted from the same GRUB image."""
    need_command("qemu-system-x86_64")
    if not Path("/usr/share/OVMF/OVMF_CODE.fd").is_file():
        need_command("ovmf-is-not-installed")
    yield from _guest("uefi", image_cache)


async def _attached(guest: tuple[Lab, LabInfo]) -> AsyncIterator[tuple[Hub, Viewer, Lab]]:
    """A Hub on the guest's config, attached to its console (and writing), closed after."""
    lab, info = guest
    hub = Hub(config.load(info.config_path))
    try:
        yield hub, await hub.attach(info.target_name, wait=8), lab
    finally:
        await hub.close()


@pytest.fixture
async def bios_hub(bios: tuple[Lab, LabInfo]) -> AsyncIterator[tuple[Hub, Viewer, Lab]]:
    async for attached in _attached(bios):
        yield attached


@pytest.fixture
async def uefi_hub(uefi: tuple[Lab, LabInfo]) -> AsyncIterator[tuple[Hub, Viewer, Lab]]:
    async for attached in _attached(uefi):
        yield attached


def _screen(hub: Hub, viewer: Viewer) -> str:
    session = hub.session(viewer.target)
    assert session is not None
    return "\n".join(session.screen.display())


def _log_size(lab: Lab) -> int:
    return lab.serial_log.stat().st_size


async def _logged(lab: Lab, text: str, since: int, timeout: float) -> int:
    """`lab.wait_for` off the event loop: the Hub must keep reading the line meanwhile (an unread
    socket stops the guest's UART)."""
    return await asyncio.to_thread(lab.wait_for, text, start=since, timeout=timeout)


async def _booted_with(
    guest: tuple[Hub, Viewer, Lab], since: int, present: list[str], absent: tuple[str, ...] = ()
) -> None:
    """Wait for the guest booted after byte `since` of its log, then let it check its own
    /proc/cmdline (the serial log can repeat a byte QEMU had to retry, so it is not read back)."""
    hub, viewer, lab = guest
    ready = await _logged(lab, READY_LINE, since, 180)
    checks = [f"grep -qwF -- '{word}' /proc/cmdline || echo mis''sing:{word}" for word in present]
    checks += [f"grep -qwF -- '{word}' /proc/cmdline && echo unwan''ted:{word}" for word in absent]
    await hub.write(viewer, ("\r" + "; ".join(checks) + "; echo checked-$((6*7))\r").encode())
    end = await _logged(lab, "checked-42", ready, 30)
    said = lab.serial_log.read_bytes()[ready:end].decode("utf-8", "replace")
    assert "missing:" not in said and "unwanted:" not in said, said


async def test_grub_menu_is_caught_and_held_after_a_reset(
    bios_hub: tuple[Hub, Viewer, Lab],
) -> None:
    hub, viewer, lab = bios_hub
    assert await hub.boot_menu(viewer, "grub", MENU_SECONDS) == "GRUB menu"
    screen = _screen(hub, viewer)
    assert "console-tui demo guest (second entry)" in screen
    log = lab.serial_log.read_bytes()
    reset = log.rfind(b"SeaBIOS (version")
    assert reset >= 0 and b"GNU GRUB" in log[reset:]
    # The hold key stopped the countdown: GRUB blanks its line and boots nothing by itself.
    assert b"Linux version" not in log[reset:]


async def _boot_with(
    guest: tuple[Hub, Viewer, Lab], action: str, value: str, *, select: str = ""
) -> int:
    """Reset into GRUB's menu, (select an entry,) run one helper that boots; the log offset."""
    hub, viewer, lab = guest
    assert await hub.boot_menu(viewer, "grub", MENU_SECONDS) == "GRUB menu"
    if select:
        await hub.boot_keys(viewer, "select", select)
    since = _log_size(lab)
    await hub.boot_keys(viewer, action, value)
    return since


async def test_second_entry_chosen_with_arrows_boots_with_its_argument(
    bios_hub: tuple[Hub, Viewer, Lab],
) -> None:
    since = await _boot_with(bios_hub, "entry", "2")
    await _booted_with(bios_hub, since, [SECOND_ENTRY_ARG])


async def test_edited_entry_boots_with_the_appended_argument(
    bios_hub: tuple[Hub, Viewer, Lab],
) -> None:
    since = await _boot_with(bios_hub, "append", "single")
    await _booted_with(bios_hub, since, ["single"], absent=(SECOND_ENTRY_ARG,))


async def test_an_entry_shaped_like_debians_is_edited_on_its_linux_line(
    bios_hub: tuple[Hub, Viewer, Lab],
) -> None:
    """Modules and messages come before `linux` there: the line is found on the editor's screen."""
    since = await _boot_with(bios_hub, "append", "rescue", select="3")
    await _booted_with(bios_hub, since, [THIRD_ENTRY_ARG, "systemd.unit=rescue.target"])


async def test_a_long_kernel_line_edit_arrives_intact(bios_hub: tuple[Hub, Viewer, Lab]) -> None:
    since = await _boot_with(bios_hub, "append", LONG_ARG)
    await _booted_with(bios_hub, since, [LONG_ARG])


async def test_seabios_boot_menu_is_caught(bios_hub: tuple[Hub, Viewer, Lab]) -> None:
    hub, viewer, lab = bios_hub
    assert await hub.boot_menu(viewer, "firmware", MENU_SECONDS) == "SeaBIOS boot menu"
    assert re.search(r"Select boot device", _screen(hub, viewer))
    assert re.search(r"\d\. .*(DVD|CD)", _screen(hub, viewer))
    # Leave it: a digit picks the CD, and GRUB comes up behind it.
    digit = re.search(r"(\d)\. .*(?:DVD|CD)", _screen(hub, viewer))
    assert digit is not None
    since = _log_size(lab)
    await hub.write(viewer, digit.group(1).encode())
    await _logged(lab, "GNU GRUB", since, 60)


async def test_uefi_setup_is_reached_and_left(uefi_hub: tuple[Hub, Viewer, Lab]) -> None:
    hub, viewer, lab = uefi_hub
    assert await hub.boot_menu(viewer, "firmware", MENU_SECONDS) == "UEFI setup"
    assert "Boot Manager" in lab.serial_log.read_bytes().decode("latin-1")
    since = _log_size(lab)
    # Leave setup by its "Continue" entry: the boot goes on to GRUB and the kernel.
    await hub.send_keys(viewer, ["down", "down", "down", "down", "enter"])
    await _logged(lab, "GNU GRUB", since, 90)


async def test_grub_menu_is_held_under_uefi(uefi_hub: tuple[Hub, Viewer, Lab]) -> None:
    since = await _boot_with(uefi_hub, "entry", "2")
    await _booted_with(uefi_hub, since, [SECOND_ENTRY_ARG])


def test_send_boot_menu_exits_0_when_up_and_3_with_the_reason(
    bios: tuple[Lab, LabInfo], guest: LabInfo
) -> None:
    """The command line, through `serve`: `send --boot-menu` holds GRUB's menu (exit 0) and
    `--boot-entry 1` boots it; on the direct-boot guest there is no boot loader, so it exits 3
    and says why."""
    lab, info = bios
    with capture_daemon(info.config_path):
        up = cli("--config", str(info.config_path), "send", "demo", "--boot-menu", "--yes")
        assert up.returncode == 0, up.stderr
        assert "GRUB menu is up" in up.stderr
        since = _log_size(lab)
        chose = cli("--config", str(info.config_path), "send", "demo", "--boot-entry", "1")
        assert chose.returncode == 0, chose.stderr
        lab.wait_for(READY_LINE, start=since, timeout=180)

        def logged() -> str:
            return cli("--config", str(info.config_path), "log", "demo").stdout

        # The daemon writes what it read; QEMU's own log may be ahead of it by a moment.
        wait_for(lambda: READY_LINE in logged().rpartition("GNU GRUB")[2], "the boot logged", 60)
    # Held from the start under `serve`, the transcript has the whole boot, firmware first.
    log = logged()
    assert log.index("Press ESC for boot menu") < log.index("GNU GRUB") < log.rindex(READY_LINE)

    direct = Lab(guest.folder)
    since = _log_size(direct)
    refused = cli("--config", str(guest.config_path), "send", "demo", "--boot-menu", "--yes")
    direct.wait_for(READY_LINE, start=since, timeout=180)
    assert refused.returncode == 3, refused.stderr
    assert "straight to its kernel" in refused.stderr

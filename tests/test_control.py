"""QMP control against the demo guest: power state, an NMI that panics it, a reset that reboots it.

The guest's serial log shows what it printed, so these tests watch the log and leave the one-client
serial socket free. Tests that reboot the guest wait for its ready line again.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from qemu.qmp import QMPClient

from console_tui import lab
from console_tui.core.control import make_control, parse_control_uri
from console_tui.core.control.qmp import QMPControl
from console_tui.core.errors import UnreachableError
from console_tui.lab import Lab, LabInfo


def control_of(info: LabInfo, timeout: float = 5.0) -> QMPControl:
    return QMPControl(parse_control_uri(info.control_uri), timeout=timeout)


@pytest.mark.guest
async def test_power_state_is_running(guest: LabInfo) -> None:
    control = make_control(guest.control_uri)
    assert control.kind == "qmp"
    assert await control.power_state() == "running"


@pytest.mark.guest
async def test_nmi_panics_the_guest_which_boots_again(guest: LabInfo) -> None:
    demo = Lab(guest.folder)
    start = guest.serial_log.stat().st_size
    await control_of(guest).nmi()
    panic = await asyncio.to_thread(
        demo.wait_for, "Kernel panic - not syncing: NMI", start=start, timeout=30
    )
    await asyncio.to_thread(demo.wait_for, lab.READY_LINE, start=panic, timeout=120)
    assert await control_of(guest).power_state() == "running"


@pytest.mark.guest
async def test_reset_reboots_the_guest(guest: LabInfo) -> None:
    demo = Lab(guest.folder)
    start = guest.serial_log.stat().st_size
    await control_of(guest).reset()
    booting = await asyncio.to_thread(demo.wait_for, "Linux version", start=start, timeout=30)
    await asyncio.to_thread(demo.wait_for, lab.READY_LINE, start=booting, timeout=120)
    assert await control_of(guest).power_state() == "running"


@pytest.mark.guest
async def test_a_second_client_waits_then_fails_clearly(guest: LabInfo) -> None:
    holder = QMPClient("holder")
    await holder.connect(str(guest.qmp_socket))
    try:
        with pytest.raises(UnreachableError) as caught:
            await control_of(guest, timeout=1.0).power_state()
    finally:
        await holder.disconnect()
    assert "another client" in caught.value.fix
    assert caught.value.where == guest.control_uri
    assert await control_of(guest).power_state() == "running"


async def test_missing_socket_is_unreachable(tmp_path: Path) -> None:
    uri = f"qmp://{tmp_path}/none.qmp"
    with pytest.raises(UnreachableError) as caught:
        await make_control(uri).power_state()
    assert "no such socket" in caught.value.what
    assert caught.value.where == uri
    assert "-qmp unix:" in caught.value.fix
    assert caught.value.exit_code == 3


async def test_socket_nobody_listens_on_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dead.qmp"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
    with pytest.raises(UnreachableError) as caught:
        await make_control(f"qmp://{path}").nmi()
    assert "refused" in caught.value.what

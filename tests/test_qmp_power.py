"""Power actions through QMP against the demo guest: cycle reboots it (QMP `system_reset`), "on" is
refused with the reason (a QEMU that quit cannot be started over QMP), and the action is audited
and marked in the transcript.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import audit_events

from console_tui import lab
from console_tui.core import config
from console_tui.core.errors import NotPermittedError
from console_tui.core.hub import Hub
from console_tui.core.transcript import read_transcript
from console_tui.lab import Lab, LabInfo


@pytest.mark.guest
async def test_power_cycle_reboots_the_guest_and_on_is_refused(guest: LabInfo) -> None:
    hub = Hub(config.load(guest.config_path))
    demo = Lab(guest.folder)
    try:
        viewer = await hub.attach(guest.target_name, write=False)
        assert hub.status(guest.target_name).power_actions == ("soft-off", "off", "cycle")
        with pytest.raises(NotPermittedError, match="the qmp control does not offer it"):
            await hub.power(viewer, "on")
        start = guest.serial_log.stat().st_size
        await hub.power(viewer, "cycle")
        booting = await asyncio.to_thread(demo.wait_for, "Linux version", start=start, timeout=30)
        await asyncio.to_thread(demo.wait_for, lab.READY_LINE, start=booting, timeout=120)
        assert [e.get("arg") for e in audit_events("power")] == ["cycle"]
        session = hub.session(guest.target_name)
        assert session is not None
        transcript = b"".join(read_transcript(session.transcript_path))
        assert b"power cycle" in transcript
    finally:
        await hub.close()

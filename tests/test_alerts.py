"""Alerts: console output that means trouble marks the target, is announced, audited, marked in
the transcript and may run a command. Against real unix-socket peers and the demo guest."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import capture_daemon, cli, wait_for
from peers import ConsolePeer

from console_tui import lab
from console_tui.core import config
from console_tui.core.alerts import QUIET, AlertWatch, describe
from console_tui.core.audit import audit_path
from console_tui.core.hub import Hub
from console_tui.core.transcript import read_transcript

PANIC = b"[   12.345678] Kernel panic - not syncing: Fatal exception in interrupt\r\n"


def test_each_default_alert_matches_what_the_kernel_or_windows_prints() -> None:
    lines = {
        "panic": b"Kernel panic - not syncing: VFS: Unable to mount root fs",
        "oops": b"BUG: unable to handle page fault for address: 0000000000001234",
        "soft lockup": b"watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [kworker/0:1:42]",
        "hung task": b"INFO: task jbd2/sda1-8:123 blocked for more than 120 seconds.",
        "out of memory": b"Out of memory: Killed process 4242 (java)",
        "bugcheck": b"*** STOP: 0x0000007B (0xF78D2524,0xC0000034,0x00000000,0x00000000)",
    }
    for name, line in lines.items():
        (alert,) = AlertWatch().feed(b"boot ok\r\n" + line + b"\r\nmore\r\n", now=0)
        assert (alert.name, alert.line) == (name, line.decode()), name
    assert AlertWatch().feed(b"all quiet: no panic here, 0 oopses\r\n") == []


def test_a_pattern_split_across_reads_matches_once_and_repeats_are_counted() -> None:
    watch = AlertWatch()
    assert watch.feed(PANIC[:30], now=100) == []
    (alert,) = watch.feed(PANIC[30:], now=100)
    assert alert.line.endswith("Fatal exception in interrupt")
    assert watch.feed(b"---[ end " + PANIC, now=110) == [], "the same alert again is counted"
    assert alert.count == 2 and describe(alert, now=220) == "panic 2 min ago (2x)"
    (again,) = watch.feed(PANIC, now=110 + QUIET)
    assert again.count == 1


def test_extra_patterns_and_colour_codes_in_the_line() -> None:
    watch = AlertWatch((r"RAID \w+ degraded",))
    (alert,) = watch.feed(b"\x1b[31mmd0: RAID raid1 degraded\x1b[0m\r\n", now=0)
    assert (alert.name, alert.line) == (r"RAID \w+ degraded", "md0: RAID raid1 degraded")


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[ConsolePeer]:
    async with ConsolePeer(tmp_path / "box.sock") as console:
        yield console


async def test_an_alert_marks_the_target_and_runs_the_command(
    tmp_path: Path, peer: ConsolePeer
) -> None:
    ran = tmp_path / "ran.json"
    script = (
        "import json, os, sys; json.dump({k: os.environ[k] for k in "
        "('CONSOLE_TUI_TARGET', 'CONSOLE_TUI_ALERT', 'CONSOLE_TUI_LINE')}, open(sys.argv[1], 'w'))"
    )
    hub = Hub(
        config.parse(
            f"[settings]\nalert_command = {json.dumps([sys.executable, '-c', script, str(ran)])}\n"
            f'[[target]]\nname = "box"\nconsole = "unix://{tmp_path}/box.sock"\n'
        )
    )
    try:
        await hub.open("box", wait=5)  # nobody attached: held, as under `serve`
        await peer.send(b"login: \r\n" + PANIC)
        async with asyncio.timeout(10):
            while not ran.exists() or not ran.read_text():
                await asyncio.sleep(0.05)
        status = hub.status("box")
        assert status.alert.startswith("panic ") and "Fatal exception" in status.alert_line
        assert json.loads(ran.read_text()) == {
            "CONSOLE_TUI_TARGET": "box",
            "CONSOLE_TUI_ALERT": "panic",
            "CONSOLE_TUI_LINE": PANIC.decode().strip(),
        }
        records = [json.loads(line) for line in audit_path().read_text().splitlines()]
        assert [r["alert"] for r in records if r["event"] == "alert"] == ["panic"]
        session = hub.session("box")
        assert session is not None
        transcript = b"".join(read_transcript(session.transcript_path))
        assert b"alert: panic" in transcript
    finally:
        await hub.close()


@pytest.mark.guest
def test_an_nmi_panic_while_nobody_watches_flips_the_state_to_an_alert(
    guest: lab.LabInfo, tmp_path: Path
) -> None:
    """The demo guest panics on NMI (and reboots by itself: panic=1); the capture daemon sees it."""
    from console_tui.core.control import make_control

    with capture_daemon(guest.config_path):
        asyncio.run(make_control(f"qmp://{guest.admin_qmp_socket}").nmi())

        def alerted() -> bool:
            listed = json.loads(cli("--config", str(guest.config_path), "list", "--json").stdout)
            return listed[0]["alert"].startswith("panic ")

        wait_for(alerted, "the panic alert in list", timeout=90)
        table = cli("--config", str(guest.config_path), "list").stdout
        assert "panic" in table.splitlines()[1].split("  ")[-1]
        wait_for(
            lambda: lab.READY_LINE in cli("log", "demo").stdout.split("Kernel panic")[-1],
            "the guest to boot again after its panic",
            timeout=90,
        )


@pytest.mark.parametrize("screen_reader", [False, True])
async def test_the_app_announces_an_alert_on_a_target_nobody_opened(
    tmp_path: Path, peer: ConsolePeer, screen_reader: bool
) -> None:
    from textual.widgets import Static

    from console_tui.ui.app import ConsoleApp
    from console_tui.ui.widgets.inventory import Inventory

    cfg = config.parse(f'[[target]]\nname = "box"\nconsole = "unix://{tmp_path}/box.sock"\n')
    hub = Hub(cfg)
    app = ConsoleApp(cfg, hub=hub, probe=False, blink=False, screen_reader=screen_reader)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await hub.open("box", wait=5)
            await peer.send(PANIC)
            announce = app.screen.query_one("#announce", Static)
            async with asyncio.timeout(10):
                while "ALERT panic" not in str(announce.render()):
                    await pilot.pause(0.1)
            assert "Fatal exception" in str(announce.render())
            assert app.screen.query_one(Inventory).states["box"].startswith("ALERT panic")
    finally:
        await hub.close()

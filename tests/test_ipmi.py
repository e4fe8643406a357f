"""IPMI: Serial-over-LAN consoles and power control against OpenIPMI's `ipmi_sim` on loopback UDP,
managing the demo guest under QEMU (console_tui/lab/bmc.py): power on boots it, SOL shows the boot
and takes keys and BREAK, reset reboots it under the same session, the BMC's refusals come in its
words, and the password never shows up in what the app writes.
"""

from __future__ import annotations

import asyncio
import os
import pty
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import audit_events, cli, need_command, output_until, state_until, wait_for

from console_tui.core import config
from console_tui.core.api import Role
from console_tui.core.errors import ConfigError, NotPermittedError
from console_tui.core.hub import Hub
from console_tui.core.ipmi_common import PasswordSource
from console_tui.core.transcript import read_transcript
from console_tui.lab.bmc import BMCInfo, SimulatedBMC
from console_tui.lab.initramfs import READY_LINE

BOOT_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def bmc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BMCInfo]:
    """One simulated BMC (machine off) for the module, stopped by its PID."""
    need_command("ipmi_sim", "qemu-system-x86_64", "busybox", "socat")
    sim = SimulatedBMC(tmp_path_factory.mktemp("bmc"))
    info = sim.up()
    try:
        yield info
    finally:
        sim.down()


def bmc_target(info: BMCInfo, password_file: Path | None = None, name: str = "rack1") -> str:
    return (
        f'[[target]]\nname = "{name}"\nconsole = "{info.console_uri}"\n'
        f'control = "{info.control_uri}"\npassword_file = "{password_file or info.password_file}"\n'
    )


def written_by_the_app(home: Path) -> bytes:
    """Everything the app wrote under its private XDG folders: audit log, transcripts,
    recordings, state."""
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


async def test_sol_console_and_power_through_the_bmc(bmc: BMCInfo, private_dirs: Path) -> None:
    hub = Hub(config.parse(bmc_target(bmc)))
    try:
        assert await hub.power_state("rack1") == "off"
        status = hub.status("rack1")
        assert status.power_actions == ("on", "soft-off", "off", "cycle")
        assert status.boot_overrides == ("setup", "pxe", "disk")
        assert status.can_break.ok

        viewer = await hub.attach("rack1")
        await hub.boot_override(viewer, "setup")
        assert (bmc.folder / "boot-override").read_text().strip() == "bios", (
            "the simulator's chassis got 'boot into firmware setup' for the next boot"
        )
        await hub.power(viewer, "on")
        await output_until(viewer, READY_LINE.encode(), timeout=BOOT_TIMEOUT)
        assert await hub.power_state("rack1") == "on"

        await hub.write(viewer, b"echo sol-$((40+2))\r")
        await output_until(viewer, b"sol-42", timeout=30)

        await hub.sysrq(viewer, "h", pause=0)
        await output_until(viewer, b"sysrq: HELP", timeout=30)

        with pytest.raises(NotPermittedError) as refused:
            await hub.nmi(viewer)
        assert "Invalid data field in request" in str(refused.value), "the BMC's own words"
        assert "0xcc" in str(refused.value)

        await hub.reset(viewer)
        await output_until(viewer, b"Linux version", timeout=BOOT_TIMEOUT, snapshots=False)
        await output_until(viewer, READY_LINE.encode(), timeout=BOOT_TIMEOUT, snapshots=False)
        await hub.write(viewer, b"echo after-$((1+1))\r")
        await output_until(viewer, b"after-2", timeout=30, snapshots=False)

        await hub.power(viewer, "off")
        assert await hub.power_state("rack1") == "off"
        await hub.power(viewer, "on")
        await output_until(viewer, READY_LINE.encode(), timeout=BOOT_TIMEOUT, snapshots=False)
        assert await hub.power_state("rack1") == "on"

        kinds = {e["event"] for e in audit_events("power")} | {
            e["event"] for e in audit_events("boot_override")
        }
        assert kinds == {"power", "boot_override"}
        assert [e.get("arg") for e in audit_events("power")] == ["on", "off", "on"]
        transcript = b"".join(read_transcript(hub.session("rack1").transcript_path))
        assert b"sol-42" in transcript
    finally:
        await hub.close()
    assert bmc.password_file.read_text().strip().encode() not in written_by_the_app(private_dirs)


async def test_a_wrong_password_is_refused_in_words_and_never_written(
    bmc: BMCInfo, tmp_path: Path, private_dirs: Path
) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password-7\n")
    wrong.chmod(0o600)
    hub = Hub(config.parse(bmc_target(bmc, wrong, name="wrong")))
    try:
        with pytest.raises(NotPermittedError) as refused:
            await hub.power_state("wrong")
        assert "the BMC refused the login: Incorrect password provided" in str(refused.value)
        viewer = await hub.attach("wrong", write=False)
        await state_until(viewer, "unreachable", timeout=30)
        assert "Incorrect password" in hub.status("wrong").detail
    finally:
        await hub.close()
    result = cli(
        "--config",
        str(_config_file(tmp_path, bmc_target(bmc, wrong, "wrong"))),
        "send",
        "wrong",
        "--power",
        "on",
    )
    assert result.returncode == 4, result.stderr
    assert "Incorrect password provided" in result.stderr
    for text in (result.stdout + result.stderr).encode(), written_by_the_app(private_dirs):
        assert b"not-the-password-7" not in text


def _config_file(folder: Path, text: str) -> Path:
    path = folder / "config.toml"
    path.write_text(text)
    return path


def test_a_password_file_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.write_text("secret-password\n")
    loose.chmod(0o644)
    with pytest.raises(ConfigError) as refused:
        PasswordSource(str(loose), where="config.toml:3").read()
    assert "readable by others (mode 0644)" in str(refused.value)
    assert f"chmod 600 {loose}" in str(refused.value)
    assert "secret-password" not in str(refused.value)


def test_the_password_comes_from_the_environment_variable_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = PasswordSource(env="RACK1_BMC_PASSWORD", where="config.toml:4")
    with pytest.raises(ConfigError, match=r"RACK1_BMC_PASSWORD .* is not set"):
        source.read()
    monkeypatch.setenv("RACK1_BMC_PASSWORD", "from-the-env")
    assert source.read() == "from-the-env"


def test_a_password_in_the_config_text_is_refused() -> None:
    text = '[[target]]\nname = "rack1"\nconsole = "ipmi-sol://admin@bmc1"\npassword = "hunter2"\n'
    with pytest.raises(ConfigError) as refused:
        config.parse(text)
    assert "never read from the config text" in str(refused.value)
    assert ":4" in refused.value.where
    assert "hunter2" not in str(refused.value)


def test_ipmi_uris_need_a_user_and_default_to_port_623() -> None:
    from console_tui.core.backings import parse_console_uri
    from console_tui.core.control import parse_control_uri

    assert parse_console_uri("ipmi-sol://admin@bmc1").port == 623
    assert parse_control_uri("ipmi://admin@bmc1:6230").port == 6230
    with pytest.raises(ValueError, match="needs user@host"):
        parse_console_uri("ipmi-sol://bmc1")
    with pytest.raises(ValueError, match="needs user@host"):
        parse_control_uri("ipmi://bmc1")


async def test_another_sol_session_is_reported_and_an_admin_takes_it_over(
    bmc: BMCInfo, tmp_path: Path
) -> None:
    need_command("ipmitool")
    controller, terminal = pty.openpty()  # ipmitool's SOL wants a terminal
    other = subprocess.Popen(
        [
            *("ipmitool", "-I", "lanplus", "-C", "3", "-H", "127.0.0.1"),
            *("-p", str(bmc.port), "-U", bmc.user, "-f", str(bmc.password_file)),
            *("sol", "activate"),
        ],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    said = bytearray()

    def ipmitool_said(words: bytes) -> bool:
        while select.select([controller], [], [], 0.1)[0]:
            try:
                said.extend(os.read(controller, 4096))
            except OSError:  # it exited and closed its terminal
                break
        return words in said

    hub = Hub(config.parse(bmc_target(bmc)))
    try:
        wait_for(lambda: ipmitool_said(b"SOL Session operational"), "ipmitool's SOL", 30)
        admin = await hub.attach("rack1")
        async with asyncio.timeout(60):  # the line is tried again until the BMC answers
            while "another SOL session" not in (detail := hub.status("rack1").detail):
                await asyncio.sleep(0.1)
        assert "another SOL session is active on the BMC" in detail
        assert "an admin takes it over" in detail

        operator = await hub.attach("rack1", who="olga", role=Role.OPERATOR, write=False)
        with pytest.raises(NotPermittedError, match="cannot take over the console"):
            await hub.take_over(operator)

        await hub.take_over(admin)
        taken = [e for e in audit_events("connect") if e.get("action") == "take-over"]
        assert len(taken) == 1 and taken[0]["target"] == "rack1" and taken[0]["who"] == admin.who
        transcript = b"".join(read_transcript(hub.session("rack1").transcript_path))
        assert b"root took the console over from another client" in transcript
        # Whether the take-over then wins is the BMC's to say: ipmi_sim lets only the session
        # that owns SOL deactivate it, so here it is not asserted.
    finally:
        await hub.close()
        if other.poll() is None:
            other.kill()
        other.wait()
        os.close(controller)

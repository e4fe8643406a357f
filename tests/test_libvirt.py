"""libvirt hypervisors for real: a private session libvirtd (console_tui/lab/libvirtd.py) running
the demo guest as a `type='qemu'` domain with a pty serial, reached as `[[hypervisor]]`."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from conftest import (
    audit_events,
    capture_daemon,
    cli,
    main_screen,
    need_command,
    next_event,
    open_console,
    state_until,
    table_rows,
    until,
    wait_for,
)

from console_tui.core import config, hypervisors
from console_tui.core.api import Event, Viewer
from console_tui.core.control import make_control
from console_tui.core.errors import NotPermittedError
from console_tui.core.hub import Hub
from console_tui.lab.initramfs import READY_LINE
from console_tui.lab.libvirtd import LibvirtLab, LoopbackSSHD

DOMAIN = "lvdemo"


@pytest.fixture(scope="module")
def lab() -> Iterator[LibvirtLab]:
    need_command("libvirtd", "virsh", "setpriv", "qemu-system-x86_64", "script")
    lab = LibvirtLab()
    try:
        lab.start()
        lab.create(DOMAIN, wait=False)  # the app test watches it boot
        yield lab
    finally:
        lab.stop()


def write_config(folder: Path, uri: str, extra: str = "") -> Path:
    path = folder / "config.toml"
    path.write_text(
        f'[[hypervisor]]\nname = "hv1"\nuri = "{uri}"\ngroup = "lab"\n\n'
        '[[hypervisor]]\nname = "hvgone"\nuri = "qemu:///session?socket=/nonexistent/sock"\n'
        + extra
    )
    return path


@pytest.mark.guest
async def test_the_app_shows_the_domain_boot(lab: LibvirtLab, tmp_path: Path) -> None:
    """The app opens the domain's console from the inventory and shows its boot (the domain
    was just started; if it is up already, it is reset)."""
    from console_tui.ui.app import ConsoleApp
    from console_tui.ui.dialogs.sysrq import SysRqDialog

    app = ConsoleApp(config.load(write_config(tmp_path, lab.uri)), blink=False, probe=False)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = await open_console(pilot, app, DOMAIN)
        if READY_LINE.encode() in lab.serial_log(DOMAIN).read_bytes():
            await asyncio.to_thread(lab.virsh, "reset", DOMAIN)
        await until(pilot, lambda: READY_LINE in pane.terminal.all_text(), "the boot", timeout=90)
        assert "Run /init as init process" in pane.terminal.all_text()
        # The SysRq menu goes through libvirt sendKey by itself, and says so.
        await pilot.press("ctrl+f6", "f2")
        await until(
            pilot,
            lambda: isinstance(app.screen, SysRqDialog) and app.screen.query("#keys"),
            "the SysRq dialog",
        )
        await pilot.press("h")
        await until(pilot, lambda: "sysrq: HELP" in pane.terminal.all_text(), "SysRq help")
        announced = str(main_screen(app).query_one("#announce").render())
        assert "SysRq h sent through libvirt sendKey: this line cannot carry a BREAK" in announced


def ready(lab: LibvirtLab) -> None:
    """Wait until the demo guest's last boot printed its ready line."""
    log = lab.serial_log(DOMAIN)
    boot = log.read_bytes().rfind(b"Linux version") if log.exists() else -1
    lab.wait_for(DOMAIN, READY_LINE, start=max(boot, 0), timeout=90)


@pytest.mark.guest
def test_list_shows_domains_with_state_and_an_unreachable_hypervisor(
    lab: LibvirtLab, tmp_path: Path
) -> None:
    path = write_config(tmp_path, lab.uri)
    done = cli("--config", str(path), "list")
    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert rows[DOMAIN]["BACKING"] == "libvirt" and rows[DOMAIN]["POWER"] == "running"
    assert rows[DOMAIN]["GROUP"] == "lab" and rows[DOMAIN]["STATE"] == "reachable"
    assert rows["hvgone"]["STATE"] == "unreachable"
    assert "hvgone: " in done.stderr and "/nonexistent/sock" in done.stderr
    assert "libvirt: XML-RPC error" not in done.stderr  # libvirt's own printing is silenced


@pytest.mark.guest
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_sysrq_goes_through_sendkey_and_says_so(lab: LibvirtLab, tmp_path: Path) -> None:
    ready(lab)
    path = write_config(tmp_path, lab.uri)
    done = cli("--config", str(path), "send", DOMAIN, "--sysrq", "h", "--wait", "3")
    assert done.returncode == 0, done.stderr
    assert "SysRq h sent through libvirt sendKey: this line cannot carry a BREAK" in done.stderr
    assert "sysrq: HELP" in done.stdout
    assert audit_events("sysrq")[-1]["path"] == "libvirt sendKey"
    # attach's ~s escape takes the same path, and says so
    child = pexpect.spawn(
        sys.executable,
        ["-m", "console_tui", "--config", str(path), "attach", DOMAIN],
        timeout=30,
        dimensions=(24, 100),
    )
    try:
        child.expect_exact(f"attached to {DOMAIN}")
        child.send("\r~sh")
        child.expect_exact("through libvirt sendKey: this line cannot carry a BREAK")
        child.expect_exact("sysrq: HELP")
        child.send("\r~.")
        child.expect(pexpect.EOF)
    finally:
        child.close()


@pytest.mark.guest
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_serve_holds_the_domain_attach_shows_a_reset_and_it_is_marked_once(
    lab: LibvirtLab, tmp_path: Path
) -> None:
    """`serve` holds the domain's console from the start; `attach -r` joins it and shows the boot
    after `send --reset` on the same session; libvirt's several REBOOT events are one marker.
    (pexpect forks from this process, which runs libvirt's event thread since an earlier test.)"""
    ready(lab)
    path = write_config(tmp_path, lab.uri)
    with capture_daemon(path) as said:
        assert "holding and recording 1 console line" in said  # the domain, not hvgone
        child = pexpect.spawn(
            sys.executable,
            ["-m", "console_tui", "--config", str(path), "attach", DOMAIN, "-r"],
            timeout=60,
            dimensions=(24, 100),
        )
        try:
            child.expect_exact(f"attached to {DOMAIN}")
            done = cli("--config", str(path), "send", DOMAIN, "--reset", "--yes", "--wait", "0")
            assert done.returncode == 0, done.stderr
            child.expect_exact("Linux version")
            child.send("~.")
            child.expect(pexpect.EOF)
        finally:
            child.close()
        wait_for(
            lambda: "Linux version" in cli("--config", str(path), "log", DOMAIN).stdout,
            "the boot in the transcript",
        )
        log = cli("--config", str(path), "log", DOMAIN).stdout
        listed = json.loads(cli("--config", str(path), "list", "--json").stdout)
    assert log.count("the machine was reset") == 1, log
    status = {s["name"]: s for s in listed}[DOMAIN]
    assert status["lifecycle"].startswith("the machine was reset") and "ago" in status["lifecycle"]
    assert "reconnected" not in log  # the reset went by on the one console stream


@pytest.mark.guest
def test_a_held_console_is_reported_and_an_admin_takes_it(lab: LibvirtLab, tmp_path: Path) -> None:
    path = write_config(tmp_path, lab.uri)
    holder = subprocess.Popen(
        ["script", "-qfc", f"virsh -c '{lab.uri}' console {DOMAIN}", "/dev/null"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert holder.stdout is not None
        said = b""
        while b"Connected to domain" not in said:
            line = holder.stdout.readline()
            assert line, said
            said += line
        done = cli("--config", str(path), "list", "--json")
        status = {s["name"]: s for s in json.loads(done.stdout)}[DOMAIN]
        assert status["state"] == "in use"
        assert "another client holds this domain's console" in status["detail"]
        assert "--take-console" in status["detail"]
        done = cli("--config", str(path), "send", DOMAIN, "--take-console", "--wait", "1")
        assert done.returncode == 0, done.stderr
        assert "took the console" in done.stderr
        holder.wait(timeout=30)  # virsh's stream was cut off
        assert any(e.get("action") == "take-console" for e in audit_events("connect"))
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_without_libvirt_python_the_hypervisor_is_disabled_with_the_fix(tmp_path: Path) -> None:
    path = write_config(tmp_path, "qemu:///system")
    block = (
        "import sys; sys.modules['libvirt'] = None; sys.modules['libvirtaio'] = None;"
        "from console_tui.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", block, "--config", str(path), "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert rows["hv1"]["STATE"] == "disabled" and rows["hvgone"]["STATE"] == "disabled"
    assert "libvirt-python is not installed" in done.stderr
    assert "pip install 'console-tui[libvirt]'" in done.stderr


async def test_many_domains_appear_and_disappear_without_restart(tmp_path: Path) -> None:
    """libvirt's test driver (`test:///default`, state shared within this process) holds 100
    defined domains; the same Hub sees them come and go."""
    path = tmp_path / "config.toml"
    path.write_text('[[hypervisor]]\nname = "testhv"\nuri = "test:///default"\n')
    conn = await hypervisors.connection("test:///default")
    names = [f"many-{n:03d}" for n in range(100)]
    xml = (
        "<domain type='test'><name>{}</name><memory>8192</memory><os><type>hvm</type></os></domain>"
    )
    hub = Hub(config.load(path))
    try:
        for name in names:
            conn.defineXML(xml.format(name))
        await hub.refresh_targets()
        shown = {t.name for t in hub.targets()}
        assert set(names) <= shown and "test" in shown
        status = await hub.probe("many-000")
        assert status.power == "shut off" and status.source == "libvirt"
        for name in names[50:]:
            conn.lookupByName(name).undefine()
        await hub.refresh_targets()
        shown = {t.name for t in hub.targets()}
        assert set(names[:50]) <= shown and not set(names[50:]) & shown
    finally:
        await hub.close()
        for name in names[:50]:
            conn.lookupByName(name).undefine()


def test_hypervisor_config_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[hypervisor]]\nname = "hv1"\nurl = "qemu:///system"\n')
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    assert f"{path}:3" in str(caught.value) and "url" in str(caught.value)
    path.write_text('[[hypervisor]]\nname = "hv1"\nuri = "hv1"\n')
    with pytest.raises(config.ConfigError, match="not a libvirt URI"):
        config.load(path)


@pytest.mark.guest
def test_a_remote_hypervisor_over_qemu_ssh_goes_and_comes_back(lab: LibvirtLab) -> None:
    """The same domain through `qemu+ssh://` to a private sshd; while sshd is down the
    hypervisor is listed unreachable with the reason, and its domain is back when sshd is."""
    need_command("ssh", "ssh-keygen")
    ready(lab)
    folder = Path(tempfile.mkdtemp(prefix="console-tui-sshd-"))
    sshd = LoopbackSSHD(folder)
    try:
        sshd.start()
        path = folder / "config.toml"
        path.write_text(f'[[hypervisor]]\nname = "remote"\nuri = "{sshd.uri(lab)}"\n')
        done = cli("--config", str(path), "send", DOMAIN, "--text", "echo ssh-$((6*7))\\r")
        assert done.returncode == 0, done.stderr
        assert "ssh-42" in done.stdout  # the guest's shell answered through the SSH path
        rows = table_rows(cli("--config", str(path), "list").stdout)
        assert rows[DOMAIN]["POWER"] == "running"
        sshd.stop()
        done = cli("--config", str(path), "list")
        rows = table_rows(done.stdout)
        assert rows["remote"]["STATE"] == "unreachable" and DOMAIN not in rows
        assert "cannot connect to the hypervisor" in done.stderr
        assert "Connection refused" in done.stderr and "ssh" in done.stderr
        sshd.start()
        rows = table_rows(cli("--config", str(path), "list").stdout)
        assert rows[DOMAIN]["POWER"] == "running" and "remote" not in rows
    finally:
        sshd.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.guest
def test_nmi_shows_on_the_console(lab: LibvirtLab, tmp_path: Path) -> None:
    """The demo guest panics on an unknown NMI (the last test on this domain)."""
    path = write_config(tmp_path, lab.uri)
    ready(lab)
    done = cli("--config", str(path), "send", DOMAIN, "--nmi", "--yes")
    assert done.returncode == 0, done.stderr
    assert "NMI" in done.stdout


async def told(viewer: Viewer, state: str, why: str = "", timeout: float = 30) -> Event:
    """The state event that tells the viewer its session is in `state`, with `why` in its detail
    (the first tries may fail otherwise while libvirt tears the domain down)."""
    async with asyncio.timeout(timeout):
        while True:
            event = await next_event(viewer, "state", timeout)
            if event.text == state and why in event.detail:
                return event


@pytest.mark.guest
async def test_a_dropped_console_reconnects_and_says_why(lab: LibvirtLab, tmp_path: Path) -> None:
    """Power off and on through the control: the stream breaks, the session says why while it
    waits, and the same session reconnects to the domain's new console; the app's Hub marks the
    domain's lifecycle events in the recording."""
    hub = Hub(config.load(write_config(tmp_path, lab.uri)))
    try:
        await hub.refresh_targets()
        viewer = await hub.attach(DOMAIN, wait=10)
        session = hub.sessions[DOMAIN]
        await hub.watch.hypervisor_watched(hub.target(DOMAIN).control)
        control = make_control(hub.target(DOMAIN).control)
        assert control.power_actions == {"on", "soft-off", "off", "cycle"}
        await control.power("off")
        down = await told(viewer, "reconnecting")
        assert "console" in down.detail  # why, while it waits
        assert await control.power_state() == "shut off"
        down = await told(viewer, "unreachable", "not running")
        assert f"start {DOMAIN}" in down.detail  # and how to start it
        await control.power("on")
        await state_until(viewer, "connected", timeout=30)
        assert session.connects == 2 and await control.power_state() == "running"
        async with asyncio.timeout(30):  # libvirt tells STARTED once the domain is all up
            while '"m", "the machine started"' not in session.recording.path.read_text():
                session.recording.flush()
                await asyncio.sleep(0.1)
    finally:
        await hub.close()
    cast = session.recording.path.read_text()
    assert '"m", "the machine stopped (destroyed)"' in cast
    assert cast.index('"m", "the machine stopped') < cast.index('"m", "the machine started"')


@pytest.mark.guest
async def test_a_defined_domain_appears_and_an_undefined_one_goes_at_once(
    lab: LibvirtLab, tmp_path: Path
) -> None:
    """No periodic look here (no `serve`): libvirt's DEFINED and UNDEFINED events alone make the
    Hub look again."""
    hub = Hub(config.load(write_config(tmp_path, lab.uri)))
    try:
        await hub.refresh_targets()
        await hub.open(DOMAIN)
        await hub.watch.hypervisor_watched(hub.target(DOMAIN).control)
        xml = tmp_path / "fresh.xml"
        xml.write_text(lab.domain_xml("fresh"))
        await asyncio.to_thread(lab.virsh, "define", str(xml))
        async with asyncio.timeout(30):
            while "fresh" not in {t.name for t in hub.targets()}:
                await asyncio.sleep(0.05)
        assert (await hub.probe("fresh")).power == "shut off"
        await asyncio.to_thread(lab.virsh, "undefine", "fresh")
        async with asyncio.timeout(30):
            while "fresh" in {t.name for t in hub.targets()}:
                await asyncio.sleep(0.05)
    finally:
        await hub.close()


async def test_a_hypervisor_that_does_not_answer_is_unreachable_for_the_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loopback port that accepts and never speaks holds `ssh` at its banner: the look gives up
    after LOOK_TIMEOUT (shortened here) and says so, instead of holding the target list."""
    need_command("ssh")
    monkeypatch.setattr(hypervisors, "LOOK_TIMEOUT", 1.0)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        path = tmp_path / "config.toml"
        path.write_text(
            f'[[hypervisor]]\nname = "mute"\nuri = "qemu+ssh://root@127.0.0.1:{port}/system'
            '?no_verify=1"\n'
        )
        hub = Hub(config.load(path))
        try:
            await hub.refresh_targets()
            assert [t.name for t in hub.targets()] == ["mute"]
            status = await hub.probe("mute")
            assert status.state == "unreachable" and "no answer within 1 s" in status.detail
            assert "ssh" in status.detail  # the fix: check ssh to the host
        finally:
            await hub.close()


async def test_a_taken_name_gets_the_hypervisor_prefix_and_power_acts(tmp_path: Path) -> None:
    """libvirt's test driver (no console, but names, states and power): a configured target
    called `test` makes the domain `test` into `testhv.test`."""
    path = tmp_path / "config.toml"
    path.write_text(
        '[[target]]\nname = "test"\nconsole = "unix:///nonexistent.sock"\n'
        '[[hypervisor]]\nname = "testhv"\nuri = "test:///default"\n'
    )
    hub = Hub(config.load(path))
    try:
        await hub.refresh_targets()
        assert hub.target("testhv.test").source == "libvirt"
        control = make_control(hub.target("testhv.test").control)
        for action, state in (("soft-off", "shut off"), ("on", "running"), ("cycle", "running")):
            await control.power(action)
            assert await control.power_state() == state, action
        with pytest.raises(NotPermittedError, match="unknown power action"):
            await control.power("explode")
    finally:
        await hub.close()

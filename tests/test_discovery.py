"""Discovery: targets found without config, from QEMU command lines, serial ports and socket folders.

Command lines are real QEMU ones (the demo guest's, libvirt's shape, the short forms); processes
are real QEMUs (`-machine none`, paused: nothing boots) and the demo guest; sockets are real unix
listeners made here.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import need_command
from serial.tools.list_ports_common import ListPortInfo

from console_tui.core import config, discovery
from console_tui.core.config import Discovery, Role, User
from console_tui.core.errors import ConfigError, NotPermittedError
from console_tui.core.hub import Hub
from console_tui.core.hubwire import HubService, Principal, RemoteHub
from console_tui.core.inventory import unique_name


@pytest.fixture
def found_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Discovery on for this test (tests/conftest.py turns it off for every other test)."""
    monkeypatch.delenv(discovery.ENVIRONMENT, raising=False)


@pytest.fixture
def folder() -> Iterator[Path]:
    """A short folder: a unix socket path must fit in 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="ctui-disc-", dir="/tmp"))
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


class Listeners:
    """Real unix listening sockets, as QEMU's socket chardevs leave them in a folder."""

    def __init__(self) -> None:
        self.sockets: dict[Path, socket.socket] = {}

    def add(self, *paths: Path) -> None:
        for path in paths:
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(str(path))
            sock.listen()
            self.sockets[path] = sock

    def remove(self, *paths: Path) -> None:
        for path in paths:
            self.sockets.pop(path).close()
            path.unlink()

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()


@pytest.fixture
def listeners() -> Iterator[Listeners]:
    made = Listeners()
    yield made
    made.close()


def vm_sockets(listeners: Listeners, folder: Path, name: str) -> None:
    listeners.add(folder / f"{name}.sock", folder / f"{name}.qmp")


def hub_for(text: str) -> Hub:
    return Hub(config.parse(text))


def only_folders(*folders: Path) -> str:
    listed = ", ".join(f'"{f}"' for f in folders)
    return f"[discovery]\nqemu = false\nserial = false\nfolders = [{listed}]\n"


# -- QEMU command lines ---------------------------------------------------------------------


LIBVIRT = [
    "/usr/bin/qemu-system-x86_64",
    "-name",
    "guest=web01,debug-threads=on",
    "-S",
    "-chardev",
    "socket,id=charmonitor,path=/var/lib/libvirt/qemu/domain-1-web01/monitor.sock,server=on,wait=off",
    "-mon",
    "chardev=charmonitor,id=monitor,mode=control",
    "-chardev",
    "socket,id=charserial0,path=/var/lib/libvirt/qemu/web01.console,server=on,wait=off",
    "-device",
    "isa-serial,chardev=charserial0,id=serial0",
]


@pytest.mark.parametrize(
    ("args", "name", "console", "control"),
    [
        pytest.param(
            ["-serial", "telnet:127.0.0.1:4555,server,nowait"],
            "qemu-7",
            "telnet://127.0.0.1:4555",
            "",
            id="short telnet host:port",
        ),
        pytest.param(
            ["-serial", "tcp::4556,server=on,wait=off", "-qmp", "tcp:127.0.0.1:4444,server"],
            "qemu-7",
            "tcp://127.0.0.1:4556",
            "",
            id="raw tcp on every address; QMP over TCP is no qmp:// control",
        ),
        pytest.param(
            [
                "-chardev",
                "socket,id=s0,host=0.0.0.0,port=7001,server=on,wait=off,telnet=on",
                "-serial",
                "chardev:s0",
            ],
            "qemu-7",
            "telnet://127.0.0.1:7001",
            "",
            id="chardev telnet on 0.0.0.0",
        ),
        pytest.param(
            [
                "-chardev",
                "socket,id=s0,host=::,port=7002,server=on,telnet=on",
                "-device",
                "isa-serial,chardev=s0",
            ],
            "qemu-7",
            "telnet://[::1]:7002",
            "",
            id="chardev telnet on ::, behind an isa-serial device",
        ),
        pytest.param(
            ["--name", "vm1", "-serial", "unix:/run/vm1.sock,server=on,wait=off"],
            "vm1",
            "unix:///run/vm1.sock",
            "",
            id="short unix, raw",
        ),
        pytest.param(
            [
                "-serial",
                "mon:unix:/run/vm.sock,server,nowait",
                "-qmp-pretty",
                "unix:/run/vm.qmp,server",
            ],
            "qemu-7",
            "unix:///run/vm.sock",
            "qmp:///run/vm.qmp",
            id="serial multiplexed with the monitor; qmp-pretty",
        ),
        pytest.param(
            ["-name", "a b/c", "-serial", "unix:vm.sock,server", "-qmp", "unix:vm.qmp,server"],
            "a-b-c",
            "unix:///srv/vms/vm.sock",
            "qmp:///srv/vms/vm.qmp",
            id="relative paths are QEMU's working folder's; a name made safe",
        ),
        pytest.param(
            [
                "-chardev",
                "socket,id=ser0,path=/lab,,1/serial.sock,server=on,wait=off,telnet=on,"
                "logfile=/lab,,1/serial.log,logappend=on",
                "-serial",
                "chardev:ser0",
                "-qmp",
                "unix:/lab,,1/qmp.sock,server=on,wait=off",
            ],
            "qemu-7",
            "unix:///lab,1/serial.sock?telnet=1",
            "qmp:///lab,1/qmp.sock",
            id="a doubled comma is a comma in a path",
        ),
        pytest.param(
            LIBVIRT[1:],
            "web01",
            "unix:///var/lib/libvirt/qemu/web01.console",
            "qmp:///var/lib/libvirt/qemu/domain-1-web01/monitor.sock",
            id="libvirt's shape: -name guest=, -mon mode=control, isa-serial",
        ),
    ],
)
def test_qemu_command_line_variants(args: list[str], name: str, console: str, control: str) -> None:
    found = discovery.qemu_target(["qemu-system-x86_64", *args], pid=7, cwd="/srv/vms")
    assert found is not None
    assert (found.name, found.console, found.control) == (name, console, control)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["-serial", "stdio"], id="stdio"),
        pytest.param(["-serial", "pty", "-qmp", "unix:/run/q,server"], id="pty"),
        pytest.param(["-nographic"], id="no serial"),
        pytest.param(
            ["-chardev", "socket,id=s,host=10.0.0.1,port=7,server=off", "-serial", "chardev:s"],
            id="QEMU dials out: nothing to connect to",
        ),
        pytest.param(["-serial", "websocket:127.0.0.1:5,server"], id="websocket"),
        pytest.param(["-serial", "unix:/run/x.sock,abstract=on,server=on"], id="abstract"),
    ],
)
def test_qemu_without_a_console_we_can_dial_is_left_out(args: list[str]) -> None:
    assert discovery.qemu_target(["qemu-system-x86_64", *args], pid=7) is None


def test_a_monitor_that_is_not_qmp_is_no_control() -> None:
    args = ["-chardev", "socket,id=m,path=/run/hmp,server=on", "-mon", "chardev=m"]
    found = discovery.qemu_target(
        ["qemu-system-x86_64", "-serial", "unix:/run/s,server", *args], pid=7
    )
    assert found is not None and found.control == ""


def test_only_qemu_programs_count() -> None:
    assert discovery.is_qemu("/usr/bin/qemu-system-aarch64")
    assert discovery.is_qemu("qemu-kvm")
    assert not discovery.is_qemu("/usr/bin/qemu-img")
    assert not discovery.is_qemu("socat")


class Qemu:
    """A real QEMU process with no machine to boot: just its serial and QMP sockets."""

    def __init__(self, folder: Path, stem: str, name: str) -> None:
        self.serial = folder / f"{stem}.sock"
        self.qmp = folder / f"{stem}.qmp"
        self.process = subprocess.Popen(
            [
                "qemu-system-x86_64",
                "-machine",
                "none",
                "-S",
                "-nodefaults",
                "-display",
                "none",
                "-name",
                f"guest={name},debug-threads=on",
                "-serial",
                f"unix:{self.serial},server=on,wait=off",
                "-chardev",
                f"socket,id=mon0,path={self.qmp},server=on,wait=off",
                "-mon",
                "chardev=mon0,mode=control",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not (self.serial.exists() and self.qmp.exists()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                assert self.process.stderr is not None
                raise AssertionError(f"QEMU did not start: {self.process.stderr.read()!r}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait()


async def test_running_qemus_are_found_and_a_second_of_a_name_gets_a_suffix(
    found_here: None, folder: Path
) -> None:
    need_command("qemu-system-x86_64")
    name = f"twin-{os.getpid()}"
    first = Qemu(folder, "a", name)
    second = Qemu(folder, "b", name)
    try:
        hub = hub_for("[discovery]\nserial = false\n")
        await hub.refresh_targets()
        ours = {t.console: t for t in hub.targets() if t.console.startswith(f"unix://{folder}")}
        assert {t.name for t in ours.values()} == {name, f"{name}-2"}
        a = ours[f"unix://{first.serial}"]
        assert (a.name, a.control, a.source) == (name, f"qmp://{first.qmp}", "qemu")
        b = ours[f"unix://{second.serial}"]
        assert b.name == f"{name}-2", "the later process takes the suffix"
        assert hub.status(b.name).power == "" and (await hub.probe(b.name)).power == "prelaunch"

        first.stop()
        await hub.refresh_targets()
        names = {t.name for t in hub.targets() if t.console.startswith(f"unix://{folder}")}
        assert names == {f"{name}-2"}, "a name once given stays while its line is found"
        later = hub_for("[discovery]\nserial = false\n")
        await later.refresh_targets()
        names = {t.name for t in later.targets() if t.console.startswith(f"unix://{folder}")}
        assert names == {f"{name}-2"}, "and in the next process: `send` means what `list` showed"
        memory = later.book.memory
        assert memory is not None and stat.S_IMODE(memory.stat().st_mode) == 0o600
    finally:
        first.stop()
        second.stop()


# -- serial ports ---------------------------------------------------------------------------


def test_serial_ports_of_this_machine(found_here: None) -> None:
    """What pyserial lists here, less the ttyS* ports the kernel found no UART behind."""
    found = {t.name: t for t in discovery.serial_targets()}
    sysfs = Path("/sys/class/tty")
    for device in sorted(Path("/dev").glob("ttyS*")):
        uart = (sysfs / device.name / "type").read_text().strip() != "0"
        assert (device.name in found) == uart, device
    for name, target in found.items():
        assert target.console == f"serial:///dev/{name}"
        assert (target.source, target.group) == ("serial", "discovered")
        assert target.description and target.description != "n/a"
        assert Path(f"/dev/{name}").exists()


def test_placeholder_ttys_are_hidden_and_usb_adapters_described(tmp_path: Path) -> None:
    """No USB serial adapter and no UART-less ttyS* exist on this machine, so the ports are
    pyserial's own ListPortInfo values and the sysfs `type` files are written here."""
    for name, kind in (("ttyS0", "4"), ("ttyS1", "0")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "type").write_text(f"{kind}\n")
    usb = ListPortInfo("/dev/ttyUSB0", skip_link_detection=True)
    usb.description = "CP2102 USB to UART Bridge Controller"
    ports = [
        ListPortInfo(f"/dev/{name}", skip_link_detection=True)
        for name in ("ttyS1", "ttyS0", "ttyAMA0")
    ]
    found = discovery.serial_targets([*ports, usb], sysfs=tmp_path)
    assert [(t.name, t.console, t.description) for t in found] == [
        ("ttyS0", "serial:///dev/ttyS0", "built-in serial port"),
        ("ttyUSB0", "serial:///dev/ttyUSB0", "CP2102 USB to UART Bridge Controller"),
    ]


# -- socket folders, names, claims ----------------------------------------------------------


async def test_a_socket_folder_is_found(
    found_here: None, folder: Path, listeners: Listeners
) -> None:
    vm_sockets(listeners, folder, "vm1")
    listeners.add(folder / "half.sock")  # no QMP beside it
    (folder / "file.sock").write_text("")  # not sockets
    (folder / "file.qmp").write_text("")
    hub = hub_for(only_folders(folder))
    await hub.refresh_targets()
    (vm1,) = hub.targets()
    assert (vm1.name, vm1.console, vm1.control, vm1.source, vm1.group) == (
        "vm1",
        f"unix://{folder}/vm1.sock",
        f"qmp://{folder}/vm1.qmp",
        "folder",
        "discovered",
    )
    status = await hub.probe("vm1")
    assert (status.source, status.state) == ("folder", "reachable")

    listeners.remove(folder / "vm1.sock", folder / "vm1.qmp")
    await hub.refresh_targets()
    assert hub.targets() == ()


async def test_discovery_off_finds_nothing(
    found_here: None, folder: Path, listeners: Listeners, monkeypatch: pytest.MonkeyPatch
) -> None:
    vm_sockets(listeners, folder, "vm1")
    hub = hub_for(f'[discovery]\nfolders = ["{folder}"]\nqemu = false\nserial = false\n')
    await hub.refresh_targets()
    assert [t.name for t in hub.targets()] == ["vm1"]
    monkeypatch.setenv(discovery.ENVIRONMENT, "off")
    hub = hub_for(f'[discovery]\nfolders = ["{folder}"]\n')
    await hub.refresh_targets()
    assert hub.targets() == ()


async def test_names_collide_into_a_suffix(
    found_here: None, folder: Path, listeners: Listeners
) -> None:
    other = Path(tempfile.mkdtemp(prefix="ctui-disc-", dir="/tmp"))
    try:
        vm_sockets(listeners, folder, "vm1")
        vm_sockets(listeners, other, "vm1")
        vm_sockets(listeners, folder, "web")
        text = '[[target]]\nname = "web"\nconsole = "tcp://127.0.0.1:9"\n'
        hub = hub_for(text + only_folders(folder, other))
        await hub.refresh_targets()
        named = {t.name: t.console for t in hub.targets()}
        assert named == {
            "web": "tcp://127.0.0.1:9",
            "vm1": f"unix://{folder}/vm1.sock",
            "vm1-2": f"unix://{other}/vm1.sock",
            "web-2": f"unix://{folder}/web.sock",
        }
    finally:
        for path in list(listeners.sockets):
            if path.parent == other:
                listeners.remove(path)
        other.rmdir()
    assert unique_name("x" * 64, {"x" * 64}) == "x" * 62 + "-2", "the suffix fits in 64"


async def test_a_configured_target_claims_the_line_it_names(
    found_here: None, folder: Path, listeners: Listeners
) -> None:
    vm_sockets(listeners, folder, "vm1")
    vm_sockets(listeners, folder, "vm2")
    text = f'[[target]]\nname = "db"\nconsole = "unix://{folder}/vm1.sock?telnet=1"\n'
    hub = hub_for(text + only_folders(folder))
    await hub.refresh_targets()
    assert [(t.name, t.source) for t in hub.targets()] == [("db", "config"), ("vm2", "folder")]


async def test_a_target_that_went_away_stays_while_someone_has_it_open(
    found_here: None, folder: Path, listeners: Listeners
) -> None:
    vm_sockets(listeners, folder, "vm1")
    hub = hub_for(only_folders(folder))
    try:
        await hub.refresh_targets()
        viewer = await hub.attach("vm1", who="test", wait=5)
        listeners.remove(folder / "vm1.sock", folder / "vm1.qmp")
        await hub.refresh_targets()
        assert [t.name for t in hub.targets()] == ["vm1"]
        assert hub.status("vm1").viewers == 1
        await hub.detach(viewer)
        await hub.refresh_targets()
        assert hub.targets() == () and hub.session("vm1") is None
        with pytest.raises(ConfigError, match="no target named 'vm1'"):
            hub.target("vm1")
    finally:
        await hub.close()


# -- config ---------------------------------------------------------------------------------


def test_the_discovery_table(tmp_path: Path) -> None:
    assert config.parse("").discovery == Discovery()
    text = '[discovery]\nqemu = false\nfolders = ["/run/qemu", "~/vms", "/run/qemu"]\n'
    parsed = config.parse(text, tmp_path / "c.toml").discovery
    assert (parsed.qemu, parsed.serial) == (False, True)
    assert parsed.folders == ("/run/qemu", os.path.expanduser("~/vms"))
    assert parsed.where == f"{tmp_path / 'c.toml'}:1"


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        (
            "[discovery]\nqemus = true\n",
            "unknown key 'qemus' in discovery (did you mean 'qemu'?)",
            2,
        ),
        ('[discovery]\n\nserial = "yes"\n', "discovery.serial must be true or false, not str", 3),
        ("[discovery]\nfolders = '/run/qemu'\n", "discovery.folders must be a list of folder", 2),
        ('[discovery]\nfolders = ["vms"]\n', "discovery.folders: 'vms' is not an absolute path", 2),
        ("discovery = 1\n", "discovery must be a table", 1),
    ],
)
def test_discovery_table_errors_name_file_and_line(
    tmp_path: Path, text: str, message: str, line: int
) -> None:
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError) as info:
        config.parse(text, path)
    assert message in info.value.what
    assert info.value.where == f"{path}:{line}"
    assert info.value.fix


def test_a_missing_folder_is_reported() -> None:
    settings = config.parse('[discovery]\nfolders = ["/nonexistent/vms"]\n').discovery
    (problem,) = discovery.folder_problems(settings)
    assert "config:1" in problem and "/nonexistent/vms does not exist" in problem


# -- who sees discovered targets under serve ------------------------------------------------

USERS = """
[[user]]
name = "root"
role = "admin"
groups = ["prod"]

[[user]]
name = "alice"
role = "operator"

[[user]]
name = "dora"
role = "operator"
groups = ["discovered"]
"""


async def test_discovered_targets_are_for_admins_and_the_discovered_group(
    found_here: None, folder: Path, listeners: Listeners, tmp_path: Path
) -> None:
    """Over the hub wire: a target found later reaches the apps that may see it, pushed."""
    text = '[[target]]\nname = "web"\ngroup = "prod"\nconsole = "tcp://127.0.0.1:9"\n'
    hub = hub_for(text + only_folders(folder) + USERS)
    service = HubService(hub, tmp_path / "run" / "hub.sock")
    await service.start()
    remotes: dict[str, RemoteHub] = {}
    try:
        for user in hub.config.users:
            token = service.issue_token(Principal(user, "192.0.2.7"))
            remotes[user.name] = await RemoteHub.connect(service.path, token)
        vm_sockets(listeners, folder, "vm1")
        await remotes["dora"].refresh_targets()
        assert [t.name for t in remotes["dora"].targets()] == ["vm1"]
        assert remotes["dora"].targets()[0].source == "folder"
        await wait_for(lambda: "vm1" in {t.name for t in remotes["root"].targets()})
        assert [t.name for t in remotes["root"].targets()] == ["web", "vm1"]
        await remotes["alice"].refresh_targets()
        assert [t.name for t in remotes["alice"].targets()] == ["web"], '"*" is not discovered'
        with pytest.raises(NotPermittedError, match="no target named 'vm1' for alice"):
            await remotes["alice"].attach("vm1")
        alice = User("alice", Role.OPERATOR)
        assert [t.name for t in hub.visible_targets(alice)] == ["web"]
    finally:
        for remote in remotes.values():
            await remote.close()
        await service.close()
        await hub.close()


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (bounded) for a push to arrive."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


# -- the CLI against the demo guest, with no config -----------------------------------------


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console_tui", *args],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=90,
        env=env,
    )


@pytest.mark.guest
def test_with_no_config_list_finds_the_demo_guest_and_send_reaches_it(
    guest: Any, found_here: None, tmp_path: Path
) -> None:
    info = guest
    env = dict(os.environ)
    result = cli("list", "--json", env=env)
    assert result.returncode == 0, result.stderr
    listed = {t["console"]: t for t in json.loads(result.stdout)}
    assert info.console_uri in listed, (result.stdout, result.stderr)
    demo = listed[info.console_uri]
    assert demo["control"] == info.control_uri
    assert (demo["source"], demo["group"], demo["backing"]) == ("qemu", "discovered", "unix")
    assert (demo["state"], demo["power"]) == ("reachable", "running")
    assert demo["name"].startswith("console-tui-demo")

    empty = tmp_path / "empty.toml"
    empty.write_text("")
    # A loaded machine emulates the guest slowly: give its answer time to come.
    sent = cli("--config", str(empty), "send", demo["name"], "--sysrq", "h", "--wait", "4", env=env)
    assert sent.returncode == 0, sent.stderr
    assert "sysrq: HELP" in sent.stdout, (sent.stdout, sent.stderr)


def read_cmdline(entry: Path) -> list[str]:
    try:
        return (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


@pytest.mark.guest
def test_the_demo_guests_command_line(guest: Any) -> None:
    """Read from the running guest's /proc entry, as `console-tui lab up` started it (another
    test may have restarted it: the process is the one whose command line names its socket)."""
    pid, argv = next(
        (int(entry.name), argv)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
        and (argv := read_cmdline(entry))
        and discovery.is_qemu(argv[0])
        and any(str(guest.serial_socket) in arg for arg in argv)
    )
    found = discovery.qemu_target(argv, pid=pid)
    assert found is not None
    assert (found.name, found.console, found.control) == (
        "console-tui-demo",
        guest.console_uri,
        guest.control_uri,
    )
    assert (found.source, found.group) == ("qemu", "discovered")
    assert found.where == found.description == f"QEMU process {pid}"
    assert guest.console_uri.endswith("?telnet=1"), "the lab's serial socket is telnet=on"


@pytest.mark.guest
def test_qemu_discovery_off_hides_the_demo_guest(
    guest: Any, found_here: None, tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[discovery]\nqemu = false\nserial = false\n")
    result = cli("--config", str(path), "list", "--json", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    path.write_text("[discovery]\nserial = false\n")
    result = cli("--config", str(path), "list", "--json", env=dict(os.environ))
    consoles = [t["console"] for t in json.loads(result.stdout)]
    assert guest.console_uri in consoles

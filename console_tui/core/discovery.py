"""Targets found without config: running QEMU processes, local serial ports, QEMU socket folders.

One function per source, each returning `Target`s in group `discovered` with their `source`
(`qemu`, `serial`, `folder`). Reading a QEMU command line (`qemu_target`) is pure, apart from
reading `/proc` (`qemu_targets`), so it is checked on real command lines without processes.
Naming them uniquely and letting a configured target claim one is core/inventory.py's work.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from console_tui.core.backings import parse_console_uri
from console_tui.core.config import NAME_RE, Discovery, Target
from console_tui.core.control import parse_control_uri

DISCOVERED_GROUP = "discovered"
SCAN_INTERVAL = 5.0
"""seconds between looks while the app or the server runs"""
ENVIRONMENT = "CONSOLE_TUI_DISCOVERY"
"""set to `off` to turn every source off, whatever the config says (scripts, tests)"""
SERIAL_PREFIXES = ("ttyS", "ttyUSB", "ttyACM")
WILDCARD_HOSTS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}


def enabled(settings: Discovery) -> bool:
    """Whether any source is on (`CONSOLE_TUI_DISCOVERY=off` turns them all off)."""
    if os.environ.get(ENVIRONMENT, "").lower() in ("0", "off", "no", "false"):
        return False
    return settings.qemu or settings.serial or bool(settings.folders)


def scan(settings: Discovery) -> list[Target]:
    """Every source `settings` turns on, in the order a line found twice is kept by: the QEMU
    command line (it knows the framing), then socket folders, then serial ports. Blocking I/O."""
    if not enabled(settings):
        return []
    found: list[Target] = []
    if settings.qemu:
        found += qemu_targets()
    for folder in settings.folders:
        found += folder_targets(folder)
    if settings.serial:
        found += serial_targets()
    return found


def folder_problems(settings: Discovery) -> list[str]:
    """What an operator should hear about the config's socket folders (one that is missing)."""
    return [
        f"{settings.where}: discovery folder {folder} does not exist (check [discovery] folders)"
        for folder in settings.folders
        if not os.path.isdir(folder)
    ]


def safe_name(text: str, fallback: str) -> str:
    """A found name as a target name (letters, digits, `.`, `_`, `-`), else `fallback`."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:64]
    return cleaned if NAME_RE.match(cleaned) else fallback


# -- QEMU processes -------------------------------------------------------------------------


def qemu_targets(proc: Path = Path("/proc")) -> list[Target]:
    """Running QEMU processes of this user (every user's for root) with a socket console."""
    found = []
    try:
        entries = sorted((e for e in proc.iterdir() if e.name.isdigit()), key=lambda e: int(e.name))
    except OSError:
        return []
    me = os.geteuid()
    for entry in entries:
        pid = int(entry.name)
        try:
            if pid == os.getpid() or (me != 0 and entry.stat().st_uid != me):
                continue
            argv = [os.fsdecode(a) for a in (entry / "cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue
        if not argv or not is_qemu(argv[0]):
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            cwd = ""
        target = qemu_target(argv, pid=pid, cwd=cwd)
        if target is not None:
            found.append(target)
    return found


def is_qemu(program: str) -> bool:
    name = os.path.basename(program)
    return name.startswith("qemu-system-") or name in ("qemu-kvm", "kvm")


def qemu_target(argv: Sequence[str], *, pid: int = 0, cwd: str = "") -> Target | None:
    """The target a QEMU command line offers: its `-name`, the server socket behind its first
    serial port as the console, and its QMP socket as the control. None without such a console.

    `cwd` is QEMU's working folder, against which relative socket paths are read."""
    options = _options(argv[1:])
    chardevs = {}
    for value in options.get("chardev", []):
        chardev = qemu_options(value, implied="backend")
        chardevs[chardev.get("id", "")] = chardev
    serials: list[dict[str, str] | None] = []
    for spec in options.get("serial", []):
        if spec.startswith("chardev:"):
            serials.append(chardevs.get(spec.removeprefix("chardev:")))
        else:
            serials.append(_legacy_chardev(spec))
    for value in options.get("device", []):
        device = qemu_options(value, implied="driver")
        if device.get("driver") in ("isa-serial", "pci-serial"):
            serials.append(chardevs.get(device.get("chardev", "")))
    console = _console_uri(serials[0], cwd) if serials and serials[0] else ""
    if not console:
        return None
    monitors = [_legacy_chardev(v) for v in options.get("qmp", []) + options.get("qmp-pretty", [])]
    for value in options.get("mon", []):
        mon = qemu_options(value, implied="chardev")
        if mon.get("mode") == "control":
            monitors.append(chardevs.get(mon.get("chardev", "")))
    controls = [_qmp_uri(m, cwd) for m in monitors if m]
    named = qemu_options(options["name"][-1], implied="guest") if "name" in options else {}
    guest = named.get("guest", "")
    return Target(
        name=safe_name(guest, f"qemu-{pid}"),
        console=console,
        control=next((c for c in controls if c), ""),
        group=DISCOVERED_GROUP,
        description=f"QEMU process {pid}" if pid else "QEMU process",
        capture=False,  # another tool may hold its one-client line and QMP: open on demand
        source="qemu",
        where=f"QEMU process {pid}",
    )


_WANTED = {"name", "chardev", "serial", "device", "qmp", "qmp-pretty", "mon"}


def _options(args: Sequence[str]) -> dict[str, list[str]]:
    """The values of the options we read, in order (`-serial` and `--serial` alike)."""
    found: dict[str, list[str]] = {}
    index = 0
    while index < len(args):
        option = args[index].lstrip("-") if args[index].startswith("-") else ""
        if option in _WANTED and index + 1 < len(args):
            found.setdefault(option, []).append(args[index + 1])
            index += 2
        else:
            index += 1
    return found


def qemu_options(text: str, *, implied: str = "") -> dict[str, str]:
    """QEMU's `key=value,...` option text as a dict: a doubled comma is a comma in a value, a
    leading bare word is the `implied` key's value, a bare `server` means `server=on` and a bare
    `noX` means `X=off` (`nowait`)."""
    parts = [p.replace("\0", ",") for p in text.replace(",,", "\0").split(",")]
    values: dict[str, str] = {}
    for index, part in enumerate(parts):
        key, equals, value = part.partition("=")
        if equals:
            values[key] = value
        elif index == 0 and implied:
            values[implied] = part
        elif part.startswith("no") and len(part) > 2:
            values[part[2:]] = "off"
        elif part:
            values[part] = "on"
    return values


def _legacy_chardev(spec: str) -> dict[str, str] | None:
    """A `-serial`/`-qmp` chardev in the short form (`unix:PATH,...`, `telnet:HOST:PORT,...`)."""
    spec = spec.removeprefix("mon:")
    for kind in ("tcp", "telnet", "tn3270", "websocket"):
        if spec.startswith(f"{kind}:"):
            address, _, rest = spec[len(kind) + 1 :].partition(",")
            host, _, port = address.partition(":")
            values = qemu_options(rest) if rest else {}
            values.update(backend="socket", host=host, port=port)
            if kind != "tcp":
                values[kind] = "on"
            return values
    if spec.startswith("unix:"):
        return {**qemu_options(spec.removeprefix("unix:"), implied="path"), "backend": "socket"}
    return None


def _on(value: str | None) -> bool:
    return (value or "").lower() in ("on", "yes", "true", "y")


def _socket_path(chardev: dict[str, str], cwd: str) -> str:
    """The listening unix socket's absolute path, or empty when it is not one we can dial."""
    if chardev.get("backend") != "socket" or not _on(chardev.get("server")):
        return ""
    path = chardev.get("path", "")
    if not path or _on(chardev.get("abstract")):
        return ""
    if not path.startswith("/"):
        return os.path.normpath(os.path.join(cwd, path)) if cwd.startswith("/") else ""
    return path


def _console_uri(chardev: dict[str, str], cwd: str) -> str:
    """A console URI for a QEMU socket chardev that listens: `unix://` or `unix://...?telnet=1`
    for a unix socket, `tcp://` or `telnet://` for host:port; empty for anything else."""
    if _on(chardev.get("websocket")) or _on(chardev.get("tn3270")):
        return ""
    telnet = _on(chardev.get("telnet"))
    path = _socket_path(chardev, cwd)
    if path:
        uri = f"unix://{path}" + ("?telnet=1" if telnet else "")
    elif chardev.get("port") and chardev.get("backend") == "socket" and _on(chardev.get("server")):
        host = chardev.get("host", "")
        host = WILDCARD_HOSTS.get(host, host).strip("[]")
        host = f"[{host}]" if ":" in host else host
        uri = f"{'telnet' if telnet else 'tcp'}://{host}:{chardev['port']}"
    else:
        return ""
    try:
        parsed = parse_console_uri(uri)
    except ValueError:
        return ""
    return uri if not path or parsed.path == path else ""


def _qmp_uri(chardev: dict[str, str], cwd: str) -> str:
    path = _socket_path(chardev, cwd)
    if not path:
        return ""
    try:
        return uri if parse_control_uri(uri := f"qmp://{path}").path == path else ""
    except ValueError:
        return ""


# -- serial ports ---------------------------------------------------------------------------


class PortInfo(Protocol):
    """What we read of pyserial's `ListPortInfo`."""

    device: str
    description: str


def serial_targets(
    ports: Iterable[PortInfo] | None = None, *, sysfs: Path = Path("/sys/class/tty")
) -> list[Target]:
    """Local serial ports (ttyS*, ttyUSB*, ttyACM*) from pyserial, without ttyS* placeholders.

    pyserial hides a ttyS* port whose parent device is a `platform` one; since Linux 6.5 every
    ttyS* hangs off a `serial-base` port device instead, so that no longer hides the placeholders
    the 8250 driver makes. The kernel's own word is the port's `type`: 0 means no UART there."""
    if ports is None:
        from serial.tools import list_ports

        ports = list_ports.comports()
    found = []
    for port in sorted(ports, key=lambda p: p.device):
        name = os.path.basename(port.device)
        if not name.startswith(SERIAL_PREFIXES):
            continue
        if name.startswith("ttyS") and not uart_present(name, sysfs):
            continue
        described = port.description not in ("", "n/a", name)
        builtin = "built-in serial port" if name.startswith("ttyS") else "serial port"
        found.append(
            Target(
                name=safe_name(name, "serial"),
                console=f"serial://{port.device}",
                group=DISCOVERED_GROUP,
                description=port.description if described else builtin,
                capture=False,  # opening a port toggles DTR, which resets some boards
                source="serial",
                where=port.device,
            )
        )
    return found


def uart_present(name: str, sysfs: Path = Path("/sys/class/tty")) -> bool:
    """Whether the kernel found a UART behind a ttyS* port (its sysfs `type` is not 0)."""
    try:
        return (sysfs / name / "type").read_text().strip() != "0"
    except OSError:
        return True


# -- socket folders -------------------------------------------------------------------------


def folder_targets(folder: str) -> list[Target]:
    """`NAME.sock` with `NAME.qmp` beside it in `folder`: console and QMP control of VM NAME.

    The console is taken as a raw socket: a telnet-mode one is found with its framing from the
    running QEMU's command line, or named in a `[[target]]`."""
    found = []
    try:
        sockets = sorted(Path(folder).glob("*.sock"))
    except OSError:
        return []
    for sock in sockets:
        qmp = sock.with_suffix(".qmp")
        if not (_is_socket(sock) and _is_socket(qmp)):
            continue
        console, control = f"unix://{sock}", f"qmp://{qmp}"
        try:
            if parse_console_uri(console).path != str(sock):
                continue
            parse_control_uri(control)
        except ValueError:
            continue
        found.append(
            Target(
                name=safe_name(sock.stem, "vm"),
                console=console,
                control=control,
                group=DISCOVERED_GROUP,
                description=f"QEMU sockets in {folder}",
                source="folder",
                where=str(sock),
            )
        )
    return found


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False

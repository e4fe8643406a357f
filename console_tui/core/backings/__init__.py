"""Console backings: one module per kind of console line, behind one small protocol.

A backing carries bytes to and from a console and, where it can, a BREAK. Adding a backing is one
new module with a class that satisfies `Backing` and one line in `REGISTRY`. Optional members: a
line that takes no input at all (an output file) has a `read_only_reason`; a line we listen on has
`waiting_words` (said while the far end has not connected) and `shut` (stop listening for good).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

from console_tui.core.errors import NotPermittedError, UnreachableError


class BackingClosed(Exception):
    """The far end closed the line (a QEMU restart, a dropped TCP connection)."""


class Backing(Protocol):
    """One console line. `read` returns at least one byte or raises `BackingClosed`."""

    kind: ClassVar[str]
    uri: ConsoleURI

    @property
    def can_break(self) -> bool: ...

    @property
    def break_reason(self) -> str:
        """Why `send_break` cannot work here, in operator words; empty when it can."""
        ...

    async def open(self) -> None:
        """Connect; raise `UnreachableError` saying what failed, where, and the fix."""
        ...

    async def read(self) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def send_break(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ConsoleURI:
    """A parsed console URI such as `unix:///run/vm.sock?telnet=1` or `telnet://host:7001`."""

    text: str
    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""
    user: str = ""
    params: dict[str, str] = field(default_factory=dict)
    fragment: str = ""

    def flag(self, name: str) -> bool:
        return self.params.get(name, "").lower() in ("1", "true", "yes", "on")

    @property
    def place(self) -> str:
        """Where the line is, for messages: a path or host:port."""
        return self.path if self.path else f"{self.host}:{self.port}"

    @property
    def where(self) -> str:
        """The `where` of an error about this line, e.g. `unix: /run/vm.sock`."""
        return f"{self.scheme}: {self.place}"


class URIError(ValueError):
    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix


# scheme -> "module:Class"; modules are imported only when a target of that kind is opened.
REGISTRY: dict[str, str] = {
    "serial": "console_tui.core.backings.serial:SerialBacking",
    "unix": "console_tui.core.backings.unix:UnixBacking",
    "tcp": "console_tui.core.backings.tcp:TCPBacking",
    "telnet": "console_tui.core.backings.telnet:TelnetBacking",
    "pty": "console_tui.core.backings.pty:PtyBacking",
    "listen": "console_tui.core.backings.inbound:InboundBacking",
    "rfc2217": "console_tui.core.backings.rfc2217:RFC2217Backing",
    "ssh": "console_tui.core.backings.ssh:SSHChainBacking",
    "unix+listen": "console_tui.core.backings.unix_listen:UnixListenBacking",
    "file": "console_tui.core.backings.file:FileBacking",
    "telnets": "console_tui.core.backings.telnets:TelnetsBacking",
}
# scheme -> "module:function" that checks a URI's parameters when the config is read.
CHECKS: dict[str, str] = {
    "telnets": "console_tui.core.backings.telnets:check_uri",
}

# What each scheme needs: a path or a host and port.
_PATH_SCHEMES = {"serial", "unix", "pty", "unix+listen", "file"}
_HOST_SCHEMES = {"tcp", "telnet", "telnets", "rfc2217", "listen", "ssh"}
PLANNED: set[str] = set()


def parse_console_uri(text: str) -> ConsoleURI:
    """Parse and check a console URI; raise `URIError` (a ValueError) with the fix."""
    supported = ", ".join(f"{s}://" for s in REGISTRY)
    if "://" not in text:
        raise URIError(
            f"{text!r} is not a URI",
            fix=(
                "write it as scheme://..., e.g. unix:///run/vm.sock or telnet://host:7001 "
                f"({supported})"
            ),
        )
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in REGISTRY:
        if scheme in PLANNED:
            raise URIError(
                f"the {scheme}:// backing is not in this version", fix=f"use one of {supported}"
            )
        raise URIError(f"unknown scheme {scheme!r}", fix=f"use one of {supported}")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if scheme in _PATH_SCHEMES:
        if parts.netloc:
            raise URIError(
                f"{scheme}:// takes an absolute path, got host {parts.netloc!r}",
                fix=f"use three slashes: {scheme}:///{parts.netloc}{parts.path}",
            )
        if not parts.path.startswith("/"):
            raise URIError("needs an absolute path", fix=f"e.g. {scheme}:///dev/ttyS0")
        baud = params.get("baud")
        if scheme == "serial" and baud is not None and not (baud.isdigit() and int(baud) > 0):
            raise URIError(
                f"baud {baud!r} is not a positive number",
                fix="e.g. serial:///dev/ttyS0?baud=115200",
            )
        return ConsoleURI(text, scheme, path=parts.path, params=params, fragment=parts.fragment)
    try:
        port = parts.port
    except ValueError:
        raise URIError(
            "the port is not a number from 1 to 65535", fix="e.g. telnet://host:7001"
        ) from None
    if not parts.hostname or not port:
        raise URIError(f"{scheme}:// needs host:port", fix=f"e.g. {scheme}://10.0.0.5:7001")
    if scheme == "listen":
        _check_listen_params(params)
    if scheme == "rfc2217":
        from console_tui.core.backings.comport import LineError, line_from_params

        try:
            line_from_params(params)
        except LineError as exc:
            raise URIError(f"rfc2217:// {exc}", fix=exc.fix) from None
    uri = ConsoleURI(
        text,
        scheme,
        host=parts.hostname,
        port=port,
        path=parts.path,
        user=parts.username or "",
        params=params,
        fragment=parts.fragment,
    )
    if scheme in CHECKS:
        module_name, _, function = CHECKS[scheme].partition(":")
        getattr(importlib.import_module(module_name), function)(uri)
    return uri


LISTEN_SELECTORS = ("uuid", "vm", "peer")


def _check_listen_params(params: dict[str, str]) -> None:
    """A `listen://` target picks its VM by at most one of uuid=, vm=, peer= (or none)."""
    unknown = sorted(set(params) - set(LISTEN_SELECTORS))
    if unknown:
        raise URIError(
            f"listen:// takes no {unknown[0]}=",
            fix="pick the VM with one of ?uuid=..., ?vm=NAME, ?peer=ADDR, or none for a port of "
            "its own",
        )
    given = [key for key in LISTEN_SELECTORS if key in params]
    if len(given) > 1:
        raise URIError(
            f"listen:// picks its VM by one of uuid=, vm=, peer=, got {' and '.join(given)}",
            fix="keep one: uuid= is the surest, then vm=, then peer=",
        )
    if given and not params[given[0]]:
        raise URIError(f"listen:// has an empty {given[0]}=", fix=f"e.g. ?{given[0]}=web-01")
    if given == ["peer"]:
        import ipaddress

        try:
            ipaddress.ip_address(params["peer"])
        except ValueError:
            raise URIError(
                f"listen:// peer={params['peer']!r} is not an IP address",
                fix="write the address the VM dials from, e.g. ?peer=10.0.0.9",
            ) from None


@runtime_checkable
class Awaited(Protocol):
    """A line the far end opens (a VM dialling in): `open` waits for it, the session says why
    meanwhile (`waiting`, empty when the far end is there already), and the line marks what
    happens on it (a vMotion) through `on_mark`."""

    on_mark: Callable[[str], None] | None

    @property
    def waiting(self) -> str: ...


def backing_class(scheme: str) -> type:
    module_name, _, class_name = REGISTRY[scheme].partition(":")
    return getattr(importlib.import_module(module_name), class_name)  # type: ignore[no-any-return]


def make_backing(uri: str | ConsoleURI, *, baud: int = 115200) -> Backing:
    """The backing for a console URI (not yet opened)."""
    parsed = uri if isinstance(uri, ConsoleURI) else parse_console_uri(uri)
    cls = backing_class(parsed.scheme)
    return cls(parsed, baud=baud)  # type: ignore[no-any-return]


def unreachable_from_oserror(
    exc: OSError, uri: ConsoleURI, *, device: bool = False
) -> UnreachableError:
    """Turn a connect/open failure into a one-line error that says what, where and the fix."""
    import errno
    import grp
    import os
    import socket

    place = uri.place
    code = exc.errno
    if isinstance(exc, socket.gaierror):
        what = f"host name {uri.host!r} not found"
        fix = "check the host name in the console URI and that DNS (or /etc/hosts) knows it"
    elif code == errno.ENOENT:
        what = "does not exist"
        fix = (
            "check the path; is the VM running with its serial chardev on this socket?"
            if not device
            else "check the device name (ls /dev/tty*); is the adapter plugged in?"
        )
    elif code == errno.ECONNREFUSED:
        what = "connection refused"
        fix = "nothing is listening there: start the VM or the console server, or check the port"
    elif code in (errno.EACCES, errno.EPERM):
        what = "permission denied"
        fix = "run as a user who may open it"
        try:
            st = os.stat(uri.path)
            group = grp.getgrgid(st.st_gid).gr_name
            fix = (
                f"add yourself to the {group!r} group (sudo usermod -aG {group} $USER) "
                "and log in again"
            )
        except (OSError, KeyError):
            pass
    elif code in (errno.EBUSY, errno.EAGAIN) and device:
        what = "is busy: another program has it open"
        fix = (
            f"close the other program (fuser -v {place} shows which), "
            "or attach through its console-tui server"
        )
    elif code in (errno.EBUSY, errno.EAGAIN):
        what = "is busy: it takes no more clients"
        fix = (
            "a QEMU socket serves one client at a time: "
            f"close the other one (ss -xp | grep {place} shows which)"
        )
    elif code == errno.EADDRINUSE:
        what = "another program listens on this socket"
        fix = f"stop it (ss -xlp | grep {place} shows which), or listen on another path"
    elif code == errno.EEXIST:
        what = "exists and is not a socket"
        fix = "remove that file or choose another path for the socket"
    elif code == errno.ENOTSOCK:
        what = "is not a socket"
        fix = "point unix:// at the socket of the VM's serial chardev, or use serial:// or pty://"
    elif code == errno.ENOTTY:
        what = "is not a terminal device (tty)"
        fix = f"point {uri.scheme}:// at a serial port or pty (ls /dev/ttyS* /dev/ttyUSB* /dev/pts)"
    elif code in (errno.ENXIO, errno.ENODEV, errno.EIO) and device:
        what = "has no device behind it"
        fix = "check the device name (dmesg | grep tty); is the adapter plugged in?"
    elif code in (errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH):
        what = "cannot be reached"
        fix = "check the address and the network path to it"
    else:
        what = exc.strerror or str(exc)
        fix = "check the target's console URI"
    return UnreachableError(what, where=uri.where, fix=fix)


def read_only_reason(backing: Backing | None) -> str:
    """Why nothing can be sent on this line (an output file), in operator words; empty when it
    takes input. A backing says so with a `read_only_reason` attribute."""
    return str(getattr(backing, "read_only_reason", "")) if backing is not None else ""


def break_refused(backing: Backing) -> NotPermittedError:
    """The error `send_break` raises on a line that cannot carry a BREAK."""
    return NotPermittedError("cannot send BREAK", where=backing.uri.where, fix=backing.break_reason)

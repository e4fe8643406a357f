"""Control backings: the actions a serial line cannot carry (NMI, reset, power state, and SysRq
where the line has no BREAK)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from console_tui.core.backings import URIError
from console_tui.core.ipmi_common import PasswordSource


class Control(Protocol):
    """Out-of-band control of one machine. Each call connects, acts, and reports in words."""

    kind: str

    async def nmi(self) -> None: ...

    async def reset(self) -> None: ...

    async def power_state(self) -> str:
        """`running`, `paused`, `shutdown`, ... as the hypervisor says it."""
        ...

    async def sysrq(self, key: str) -> None:
        """Alt+SysRq+key on the machine's own keyboard; raise NotPermittedError(reason) where it cannot."""
        ...

    power_actions: frozenset[str]
    """What `power` can do here: a subset of POWER_ACTIONS."""

    async def power(self, action: str) -> None:
        """One of `power_actions`: on, soft-off (ACPI power button), off (hard), cycle."""
        ...


@dataclass(frozen=True)
class ControlURI:
    text: str
    scheme: str
    path: str = ""
    host: str = ""
    user: str = ""
    port: int = 0


POWER_ACTIONS = ("on", "soft-off", "off", "cycle")

REGISTRY: dict[str, str] = {
    "qmp": "console_tui.core.control.qmp:QMPControl",
    "ipmi": "console_tui.core.control.ipmi:IPMIControl",
    "libvirt": "console_tui.core.control.libvirt:LibvirtControl",
}
PLANNED: set[str] = set()


def parse_control_uri(text: str) -> ControlURI:
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    supported = ", ".join(f"{s}://" for s in REGISTRY)
    if scheme not in REGISTRY:
        if scheme in PLANNED:
            raise URIError(f"the {scheme}: control is not in this version", fix=f"use {supported}")
        raise URIError(
            f"unknown control scheme {scheme!r}", fix=f"use {supported}, e.g. qmp:///run/vm.qmp"
        )
    if scheme == "qmp":
        if parts.netloc or not parts.path.startswith("/"):
            raise URIError(
                "qmp:// takes an absolute socket path", fix="e.g. qmp:///run/qemu/web-01.qmp"
            )
        return ControlURI(text, scheme, path=parts.path)
    try:
        port = parts.port or 0
    except ValueError:
        raise URIError(
            "the port is not a number from 1 to 65535", fix=f"e.g. {scheme}://admin@bmc:623"
        ) from None
    if scheme == "ipmi" and not (parts.hostname and parts.username):
        raise URIError(
            "ipmi:// needs user@host", fix="e.g. ipmi://admin@10.0.0.9 or ipmi://admin@bmc:623"
        )
    return ControlURI(
        text,
        scheme,
        path=parts.path,
        host=parts.hostname or "",
        user=parts.username or "",
        port=port,
    )


def make_control(uri: str, *, password: PasswordSource | None = None) -> Control:
    """The control for a control URI; `password` for those that log in."""
    parsed = parse_control_uri(uri)
    module_name, _, class_name = REGISTRY[parsed.scheme].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if getattr(cls, "takes_password", False):
        return cls(parsed, password=password)  # type: ignore[no-any-return]
    return cls(parsed)  # type: ignore[no-any-return]

"""Control backings: the actions a serial line cannot carry (NMI, reset, power state, and SysRq
where the line has no BREAK)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from console_tui.core.backings import URIError


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


@dataclass(frozen=True)
class ControlURI:
    text: str
    scheme: str
    path: str = ""
    host: str = ""
    user: str = ""


REGISTRY: dict[str, str] = {
    "qmp": "console_tui.core.control.qmp:QMPControl",
}
PLANNED = {"libvirt", "ipmi"}


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
    return ControlURI(
        text, scheme, path=parts.path, host=parts.hostname or "", user=parts.username or ""
    )


def make_control(uri: str) -> Control:
    parsed = parse_control_uri(uri)
    module_name, _, class_name = REGISTRY[parsed.scheme].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(parsed)  # type: ignore[no-any-return]

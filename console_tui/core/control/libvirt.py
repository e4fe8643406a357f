"""`libvirt:///DOMAIN?uri=HYPERVISOR`: NMI, reset, power and state of a libvirt domain, and SysRq
as the key press Alt+SysRq+key (`sendKey`), which works where no BREAK can travel (a pty serial)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from console_tui.core import hypervisors
from console_tui.core.control import ControlURI
from console_tui.core.errors import NotPermittedError, UnreachableError

KEY_LEFTALT = 56
KEY_SYSRQ = 99
HOLD_MS = 200
LINUX_KEYCODES: dict[str, int] = {
    **{str(n): 1 + n for n in range(1, 10)},
    "0": 11,
    **dict(zip("qwertyuiop", range(16, 26), strict=True)),
    **dict(zip("asdfghjkl", range(30, 39), strict=True)),
    **dict(zip("zxcvbnm", range(44, 51), strict=True)),
}
"""Linux input keycodes (linux/input-event-codes.h) of the SysRq command keys."""
POWER_ACTIONS = frozenset({"on", "soft-off", "off", "cycle"})


class LibvirtControl:
    """Out-of-band control of one libvirt domain; every call acts at once and reports in words."""

    kind: ClassVar[str] = "libvirt"
    power_actions: frozenset[str] = POWER_ACTIONS

    def __init__(self, uri: ControlURI) -> None:
        self.uri = uri
        self.hypervisor, self.domain = hypervisors.split_line_uri(uri.text)

    async def nmi(self) -> None:
        """Inject an NMI (`injectNMI`)."""
        await self._call(lambda dom: dom.injectNMI(0), "send NMI")

    async def reset(self) -> None:
        """Reset the machine like its reset button (`reset`); the console stays open."""
        await self._call(lambda dom: dom.reset(0), "reset")

    async def power_state(self) -> str:
        """running, paused, shut off, crashed, ... as libvirt says it."""
        state = await self._call(lambda dom: dom.state()[0], "read the state")
        return hypervisors.STATE_WORDS.get(state, "unknown")

    async def power(self, action: str) -> None:
        """on (`create`), soft-off (ACPI `shutdown`), off (`destroy`), cycle (off, then on)."""
        if action not in POWER_ACTIONS:
            raise NotPermittedError(
                f"unknown power action {action!r}",
                where=self.uri.text,
                fix=f"use one of: {', '.join(sorted(POWER_ACTIONS))}",
            )

        def act(dom: Any) -> None:
            if action in ("off", "cycle"):
                dom.destroy()
            if action in ("on", "cycle"):
                dom.create()
            if action == "soft-off":
                dom.shutdown()

        await self._call(act, f"power {action}")

    async def sysrq(self, key: str) -> None:
        """Alt+SysRq+key through `sendKey`, held 200 ms."""
        code = LINUX_KEYCODES.get(key.lower())
        if code is None:
            raise NotPermittedError(
                f"SysRq {key!r} has no key to press",
                where=self.uri.text,
                fix=f"use one of: {''.join(sorted(LINUX_KEYCODES))}",
            )
        await self._call(
            lambda dom: dom.sendKey(_keycode_set(), HOLD_MS, [KEY_LEFTALT, KEY_SYSRQ, code], 3, 0),
            f"send SysRq {key}",
        )

    async def _call(self, action: Any, words: str) -> Any:
        where = f"libvirt: {self.domain} on {self.hypervisor}"
        libvirt = hypervisors.require_library(where)
        conn = await hypervisors.connection(self.hypervisor)

        def run() -> Any:
            return action(conn.lookupByName(self.domain))

        try:
            return await asyncio.to_thread(run)
        except libvirt.libvirtError as exc:
            raise UnreachableError(
                f"cannot {words}: {hypervisors.error_words(exc)}",
                where=where,
                fix="virsh -c URI dominfo DOMAIN shows the domain's state",
            ) from None


def _keycode_set() -> int:
    import libvirt

    return int(libvirt.VIR_KEYCODE_SET_LINUX)

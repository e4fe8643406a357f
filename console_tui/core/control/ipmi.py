"""IPMI control over LAN (`ipmi://user@host[:port]`): power state and actions, NMI by chassis
power diag, reset, and a one-shot boot override for the next boot.

Each action runs as one IPMI command in a child process (`_ipmi_command`), apart from any SOL
console of the same login in this process (pyghmi sessions of one login are shared and hang when a
command and a console meet). The password goes to the child on stdin.
"""

from __future__ import annotations

from typing import Any, ClassVar

from console_tui.core.control import ControlURI
from console_tui.core.errors import NotPermittedError
from console_tui.core.ipmi_common import BMC, PasswordSource, bmc_of, ipmi_command

POWER_WORDS = {
    "on": "power on",
    "soft-off": "soft power off (ACPI)",
    "off": "power off",
    "cycle": "power cycle",
}
BOOT_OVERRIDES = ("setup", "pxe", "disk")


class IPMIControl:
    """Out-of-band control of a server through its BMC."""

    kind: ClassVar[str] = "ipmi"
    takes_password: ClassVar[bool] = True
    power_actions: frozenset[str] = frozenset(POWER_WORDS)
    boot_overrides: tuple[str, ...] = BOOT_OVERRIDES

    def __init__(self, uri: ControlURI, *, password: PasswordSource | None = None) -> None:
        self.uri = uri
        self.password = password or PasswordSource()

    def bmc(self) -> BMC:
        return bmc_of("ipmi", self.uri.host, self.uri.port, self.uri.user, self.password)

    async def nmi(self) -> None:
        """A diagnostic interrupt (NMI) by Chassis Control "power diag"."""
        await self._run("chassis", "diag", "NMI (chassis power diag)")

    async def reset(self) -> None:
        await self._run("chassis", "reset", "reset")

    async def power(self, action: str) -> None:
        if action not in POWER_WORDS:
            raise NotPermittedError(
                f"unknown power action {action!r}",
                where=self.uri.text,
                fix=f"use one of {', '.join(POWER_WORDS)}",
            )
        await self._run("chassis", action, POWER_WORDS[action])

    async def power_state(self) -> str:
        return str(await self._run("status", "", "read the power state"))

    async def boot_override(self, device: str) -> None:
        """Boot once from `device` (setup: the firmware's setup screen, pxe, disk) next time."""
        if device not in BOOT_OVERRIDES:
            raise NotPermittedError(
                f"unknown boot override {device!r}",
                where=self.uri.text,
                fix=f"use one of {', '.join(BOOT_OVERRIDES)}",
            )
        await self._run("bootdev", device, f"set the next boot to {device}")

    async def sysrq(self, key: str) -> None:
        raise NotPermittedError(
            "IPMI has no keyboard path; use the SOL BREAK",
            where=self.uri.text,
            fix="send SysRq on the ipmi-sol:// console (BREAK, then the key)",
        )

    async def _run(self, op: str, arg: str, action: str) -> Any:
        return await ipmi_command(self.bmc(), op, arg, action)

"""QMP control: NMI, reset and power state of a QEMU guest through its QMP socket, and its
lifecycle events (reset, shutdown, pause, panic) while `serve` holds the target.

QEMU serves one QMP client per socket at a time. An action opens its own QMP session and closes it
afterwards, unless a `QMPWatch` of this process holds that socket (`serve` holds a captured
target's, to hear its events as they happen): then the action goes through the held session. Give
such a QEMU a second `-qmp` socket for other tools.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, ClassVar

from qemu.qmp import ExecuteError, QMPClient, QMPError, Runstate

from console_tui.core._background import Background
from console_tui.core.control import ControlURI
from console_tui.core.errors import NotPermittedError, UnreachableError

DEFAULT_TIMEOUT = 5.0
BACKOFF_FIRST = 0.25
BACKOFF_MAX = 5.0

LIFECYCLE_WORDS = {
    "RESET": "the machine was reset",
    "SHUTDOWN": "the machine shut down",
    "POWERDOWN": "the power button was pressed",
    "STOP": "the machine was paused",
    "RESUME": "the machine runs again",
    "GUEST_PANICKED": "the guest panicked",
    "SUSPEND": "the guest suspended itself",
    "WAKEUP": "the guest woke up",
}
"""QMP events worth telling an operator, in words."""

_held: dict[str, QMPWatch] = {}
"""QMP sockets a QMPWatch of this process holds, by path."""


class QMPControl:
    """Out-of-band control of a QEMU guest over `qmp:///path/to/socket`."""

    kind: ClassVar[str] = "qmp"

    def __init__(self, uri: ControlURI, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.uri = uri
        self.path = uri.path
        self.timeout = timeout

    async def nmi(self) -> None:
        """Inject an NMI into every vCPU (QMP `inject-nmi`)."""
        await self.execute("inject-nmi")

    async def reset(self) -> None:
        """Reset the machine, like its reset button (QMP `system_reset`)."""
        await self.execute("system_reset")

    power_actions: frozenset[str] = frozenset({"soft-off", "off", "cycle"})
    """No "on": a QEMU that quit is gone, and QMP cannot start one. "off" is `quit` (the QEMU
    process ends); "cycle" is `system_reset` (QEMU has no power cycle nearer than that)."""

    async def power(self, action: str) -> None:
        """soft-off presses the power button (`system_powerdown`), off ends QEMU (`quit`), cycle
        resets the machine (`system_reset`)."""
        command = {"soft-off": "system_powerdown", "off": "quit", "cycle": "system_reset"}.get(
            action
        )
        if command is None:
            raise NotPermittedError(
                f"QMP cannot power {action}",
                where=self.uri.text,
                fix="start the VM again from where it was started (its script, libvirt, lab up)"
                if action == "on"
                else "use soft-off, off or cycle",
            )
        await self.execute(command)

    async def power_state(self) -> str:
        """QEMU's run state: `running`, `paused`, `shutdown`, `guest-panicked`, ..."""
        reply = await self.execute("query-status")
        if isinstance(reply, dict) and isinstance(reply.get("status"), str):
            return reply["status"]
        raise UnreachableError(
            f"query-status answered {reply!r}",
            where=self.uri.text,
            fix="is this socket a QEMU QMP socket (-qmp unix:PATH,server=on)?",
        )

    async def sysrq(self, key: str) -> None:
        """Alt+SysRq+key on the guest's keyboard (QMP `send-key`): SysRq without a serial BREAK.

        The pc machine's i8042 keyboard is there even with `-nodefaults`."""
        codes = ["alt", "sysrq", _qcode(key)]
        await self.execute("send-key", {"keys": [{"type": "qcode", "data": c} for c in codes]})

    async def execute(self, command: str, arguments: dict[str, Any] | None = None) -> object:
        """Run one QMP command (through a held session, else its own); errors become
        `UnreachableError`."""
        watch = _held.get(self.path)
        if watch is not None and watch.client is not None:
            return await self._execute(watch.client, command, arguments, connect=False)
        client = QMPClient(f"console-tui:{self.path}")
        return await self._execute(client, command, arguments, connect=True)

    async def _execute(
        self,
        client: QMPClient,
        command: str,
        arguments: dict[str, Any] | None,
        *,
        connect: bool,
    ) -> object:
        try:
            if connect:
                await asyncio.wait_for(client.connect(self.path), self.timeout)
            return await asyncio.wait_for(client.execute(command, arguments), self.timeout)
        except ExecuteError as error:
            raise UnreachableError(
                f"QEMU refused {command}: {error.error_class}: {error}",
                where=self.uri.text,
                fix="check that the machine type and QEMU version support it",
            ) from error
        except TimeoutError as error:
            raise UnreachableError(
                f"QMP did not answer {command} within {self.timeout:.0f} s",
                where=self.uri.text,
                fix="another client may hold the QMP socket (QEMU serves one at a time); "
                "close it, or check that QEMU is not hung",
            ) from error
        except (QMPError, OSError, EOFError) as error:
            raise UnreachableError(
                f"cannot reach QMP for {command}: {_reason(error)}",
                where=self.uri.text,
                fix="start the VM with -qmp unix:PATH,server=on,wait=off and check the path",
            ) from error
        finally:
            if connect:
                await _quiet_disconnect(client)


class QMPWatch(Background):
    """Holds one QEMU's QMP socket: its lifecycle events go to `on_event` (name, words, data) as
    they happen, and this process's actions on it go through the held session. Reconnects with
    backoff while QEMU is away."""

    def __init__(
        self, uri: ControlURI, on_event: Callable[[str, str, dict[str, Any]], None]
    ) -> None:
        self.uri = uri
        self.path = uri.path
        self.on_event = on_event
        self.client: QMPClient | None = None

    def _task_name(self) -> str:
        return f"qmp watch {self.path}"

    async def _run(self) -> None:
        backoff = BACKOFF_FIRST
        try:
            while True:
                client = QMPClient(f"console-tui-watch:{self.path}")
                try:
                    await asyncio.wait_for(client.connect(self.path), DEFAULT_TIMEOUT)
                except (QMPError, OSError, EOFError, TimeoutError):
                    await _quiet_disconnect(client)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    continue
                backoff = BACKOFF_FIRST
                self.client = client
                _held[self.path] = self
                try:
                    await self._listen(client)
                finally:
                    self.client = None
                    if _held.get(self.path) is self:
                        del _held[self.path]
                    await _quiet_disconnect(client)
                await asyncio.sleep(BACKOFF_FIRST)
        finally:
            self.client = None

    async def _listen(self, client: QMPClient) -> None:
        """Until the session ends: tell each lifecycle event."""

        async def events() -> None:
            async for event in client.events:
                name = str(event.get("event", ""))
                if name in LIFECYCLE_WORDS:
                    data = event.get("data")
                    self.on_event(
                        name, LIFECYCLE_WORDS[name], data if isinstance(data, dict) else {}
                    )

        async def gone() -> None:
            while client.runstate == Runstate.RUNNING:
                await client.runstate_changed()

        tasks = [asyncio.ensure_future(events()), asyncio.ensure_future(gone())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def _qcode(key: str) -> str:
    """The QEMU key code of one SysRq key: letters and digits are their own qcode."""
    if len(key) != 1 or not key.isascii() or not key.isalnum():
        raise NotPermittedError(
            f"no keyboard key for SysRq {key!r}", fix="use a letter or digit (h shows the help)"
        )
    return key.lower()


def _reason(error: BaseException) -> str:
    cause = getattr(error, "exc", None)
    if isinstance(cause, FileNotFoundError):
        return "no such socket"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused (QEMU is not listening there)"
    return str(error) or type(error).__name__


async def _quiet_disconnect(client: QMPClient) -> None:
    with contextlib.suppress(QMPError, OSError, EOFError, TimeoutError):
        await asyncio.wait_for(client.disconnect(), 2.0)

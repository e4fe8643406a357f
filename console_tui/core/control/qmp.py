"""QMP control: NMI, reset and power state of a QEMU guest through its QMP socket.

Each action opens its own QMP session and closes it afterwards, because QEMU serves one QMP
client per socket at a time: holding the socket would lock out everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar

from qemu.qmp import ExecuteError, QMPClient, QMPError

from console_tui.core.control import ControlURI
from console_tui.core.errors import UnreachableError

DEFAULT_TIMEOUT = 5.0


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

    async def execute(self, command: str) -> object:
        """Connect, run one QMP command, disconnect; errors become `UnreachableError`."""
        client = QMPClient(f"console-tui:{self.path}")
        try:
            await asyncio.wait_for(client.connect(self.path), self.timeout)
            return await asyncio.wait_for(client.execute(command), self.timeout)
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
            await _quiet_disconnect(client)


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

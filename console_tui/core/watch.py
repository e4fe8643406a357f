"""What the Hub does for console lines nobody may be watching.

Under `serve`, every captured target's line is held from the start (and what discovery finds
later, as it appears); a QEMU target's QMP socket is held too, so its resets, shutdowns, pauses and
panics are marked, told and audited as they happen, whoever caused them. On any open line, an alert
(core/alerts.py) is told to its viewers, audited, marked, and may run the configured command.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial
from typing import TYPE_CHECKING

from console_tui.core import listener
from console_tui.core.alerts import Alert, run_alert_command
from console_tui.core.api import Event, EventKind
from console_tui.core.backings import parse_console_uri
from console_tui.core.config import Target
from console_tui.core.control import parse_control_uri
from console_tui.core.control.qmp import QMPWatch
from console_tui.core.discovery import DISCOVERED_GROUP, SCAN_INTERVAL
from console_tui.core.errors import ConsoleError

REPEAT_QUIET = 2.0

if TYPE_CHECKING:
    from console_tui.core.hub import Hub
    from console_tui.core.session import Session


class Watch:
    """One Hub's capture, lifecycle watches and alert commands."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.capturing = False
        self._watches: dict[str, QMPWatch] = {}
        self._rescan: asyncio.Task[None] | None = None
        self._alert_tasks: set[asyncio.Task[None]] = set()
        self._last_event: dict[tuple[str, str], float] = {}

    async def capture(self) -> list[str]:
        """Open every target's line that has `capture` on and hold it whether anyone watches or
        not: transcript, recording, screen and scrollback stay current. The names held."""
        hub = self.hub
        if not self.capturing:
            self.capturing = True
            self._rescan = asyncio.get_running_loop().create_task(self._keep_looking())
            await self._listen()
        names = [t.name for t in hub.targets() if t.capture]
        for name in names:
            await hub.open(name)
            control = hub.target(name).control
            if control.startswith("qmp:") and name not in self._watches:
                watch = QMPWatch(parse_control_uri(control), partial(self.lifecycle, name))
                self._watches[name] = watch
                watch.start()
        return names

    async def _listen(self) -> None:
        """Open the configured concentrators; a VM that dials in unclaimed becomes a found target
        (named after its VM, or its peer's address), whose line is held like any other."""
        listener.set_hooks(self._stranger, self._refused)
        for text in self.hub.config.settings.concentrators:
            uri = parse_console_uri(text)
            await listener.concentrator(uri.host, uri.port)

    def _stranger(self, concentrator: listener.Concentrator, line: listener.InboundLine) -> None:
        if sum(t.source == "inbound" for t in self.hub.targets()) >= listener.PARKED_MAX:
            return  # enough found already: the connection stays parked, unclaimed
        if any(
            listener.claims(t.console, concentrator, line) for t in self.hub.targets()
        ):  # a target not open yet (capture = false) takes it when it opens
            return
        name, console = listener.stranger_console(concentrator, line)
        found = Target(name=name, console=console, group=DISCOVERED_GROUP, source="inbound")
        name = self.hub.book.arrive(found)
        if name:
            self.hub.audit.record("dial-in", who="hub", target=name, source=line.label)
            task = asyncio.get_running_loop().create_task(self._hold_arrived())
            self._alert_tasks.add(task)
            task.add_done_callback(self._alert_tasks.discard)

    def _refused(self, concentrator: listener.Concentrator, line: listener.InboundLine) -> None:
        """A connection claimed a vMotion with a wrong secret: it got nothing; audit who it was."""
        self.hub.audit.record(
            "vmotion-refused", who="hub", source=line.label, where=concentrator.where
        )

    async def _hold_arrived(self) -> None:
        with contextlib.suppress(ConsoleError, OSError):
            await self.capture()

    async def _keep_looking(self) -> None:
        """While capturing, look for new VMs and ports now and then, and hold their lines too."""
        while True:
            await asyncio.sleep(SCAN_INTERVAL)
            with contextlib.suppress(ConsoleError, OSError):
                await self.hub.refresh_targets(max_age=SCAN_INTERVAL / 2)

    async def forget(self, name: str) -> None:
        """A found target went away: stop watching its hypervisor."""
        watch = self._watches.pop(name, None)
        if watch is not None:
            await watch.close()

    def lifecycle(self, name: str, event: str, words: str, data: dict[str, object]) -> None:
        """A machine's lifecycle event, from its hypervisor: marked, told and audited. QEMU reports
        one reset more than once (the request, then the guest's own reboot path, each with its reason):
        the same event again within REPEAT_QUIET seconds is the same happening, told once."""
        reason = data.get("reason")
        said = f"{words} ({reason})" if isinstance(reason, str) and reason else words
        now = time.monotonic()
        if now - self._last_event.get((name, event), -REPEAT_QUIET) < REPEAT_QUIET:
            return
        self._last_event[(name, event)] = now
        self.hub.audit.record("lifecycle", who="hub", target=name, kind=event.lower(), words=said)
        session = self.hub.sessions.get(name)
        if session is not None:
            session.mark(said)
            session.broadcast(Event(EventKind.NOTICE, text=said))

    def alerted(self, session: Session, alert: Alert) -> None:
        """A console printed trouble: say so to its viewers, audit and mark it, run the command."""
        name = session.target.name
        settings = self.hub.config.settings
        self.hub.audit.record("alert", who="hub", target=name, alert=alert.name, line=alert.line)
        session.mark(f"alert: {alert.name}: {alert.line}")
        session.broadcast(Event(EventKind.NOTICE, text=f"ALERT {alert.name}: {alert.line}"))
        if settings.alert_command:
            task = asyncio.get_running_loop().create_task(
                run_alert_command(settings.alert_command, name, alert, settings.alert_timeout)
            )
            self._alert_tasks.add(task)
            task.add_done_callback(self._alert_tasks.discard)

    async def close(self) -> None:
        if self._rescan is not None:
            self._rescan.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rescan
            self._rescan = None
        for task in list(self._alert_tasks):
            task.cancel()
        for watch in list(self._watches.values()):
            await watch.close()
        self._watches.clear()
        listener.set_hooks(None)
        await listener.close_all()
        self.capturing = False

"""The Hub API: every call the app, `attach`, `send`, `list` and the SSH server make, and its values.

`Hub` runs the consoles in this process; `RemoteHub` speaks to the Hub of a running
`console-tui serve` over its local socket. Both satisfy `HubAPI` (mypy checks it), so every way in
is written once against this Protocol. Each call that acts on a console takes the `Viewer` acting
(who, role, from where), so permissions, the write lock and the audit log live in the Hub alone.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

from console_tui.core.config import Config, Role, Target

__all__ = [
    "LOCK_REQUESTED",
    "Capability",
    "Event",
    "EventKind",
    "HubAPI",
    "LockHolder",
    "Role",
    "TargetStatus",
    "Viewer",
    "status_table",
]

VIEWER_QUEUE = 512
LOCK_REQUESTED = "lock-requested"
"""The detail of the notice that tells the write lock's holder somebody asks for it."""


class EventKind(enum.StrEnum):
    """What a viewer is told."""

    OUTPUT = "output"
    """console bytes"""
    SNAPSHOT = "snapshot"
    """VT bytes that redraw the whole screen: first on attach, and after a viewer fell behind"""
    STATE = "state"
    """text: the session's state (connected, reconnecting, ...); detail: why the line is down"""
    LOCK = "lock"
    """text: who holds the write lock, empty when free"""
    VIEWERS = "viewers"
    """text: who is attached"""
    NOTICE = "notice"
    """text for the operator, in words that fit every client; detail: what it is about
    (`LOCK_REQUESTED`), so a client can add its own way to act on it"""
    DETACHED = "detached"
    """text: why this viewer was detached; the last event it gets"""


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    data: bytes = b""
    text: str = ""
    detail: str = ""


_viewer_ids = itertools.count(1)


@dataclass(eq=False)
class Viewer:
    """One operator's attachment to one target: the handle every console call takes.

    Events arrive in a bounded queue: when a viewer falls behind, what is queued is dropped and it
    starts over from a snapshot, so a slow viewer never holds up the console or the transcript.
    """

    target: str
    who: str
    role: Role = Role.ADMIN
    source: str = "local"
    id: int = field(default_factory=lambda: next(_viewer_ids))
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(VIEWER_QUEUE))
    dropped: int = 0
    last_input: float = 0.0

    def __post_init__(self) -> None:
        self.role = Role(self.role)

    @property
    def label(self) -> str:
        return f"{self.who}@{self.source}" if self.source not in ("", "local") else self.who

    @property
    def may_write(self) -> bool:
        return self.role.at_least(Role.OPERATOR)

    def deliver(self, event: Event, snapshot: bytes | None = None) -> None:
        """Queue an event; when the queue is full, drop what is queued and start over from a snapshot."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += self.queue.qsize()
            while not self.queue.empty():
                self.queue.get_nowait()
            if snapshot is not None:
                self.queue.put_nowait(Event(EventKind.SNAPSHOT, snapshot))
            if event.kind != EventKind.OUTPUT:
                self.queue.put_nowait(event)

    async def batch(self, limit: int = 1 << 20) -> list[Event]:
        """Wait for an event, then take every event already queued (up to `limit` output bytes),
        joining runs of output into one: a viewer draws once per batch, not once per read."""
        events = [await self.queue.get()]
        size = len(events[0].data)
        while size < limit and not self.queue.empty() and events[-1].kind != EventKind.DETACHED:
            event = self.queue.get_nowait()
            size += len(event.data)
            if event.kind == EventKind.OUTPUT and events[-1].kind == EventKind.OUTPUT:
                events[-1] = Event(EventKind.OUTPUT, events[-1].data + event.data)
            else:
                events.append(event)
        return events

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = await self.queue.get()
            yield event
            if event.kind == EventKind.DETACHED:
                return


@dataclass(frozen=True)
class Capability:
    """Whether an action can be done on a target, and if not, why (shown, never hidden)."""

    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a session's write lock."""

    id: int
    label: str


@dataclass(frozen=True)
class TargetStatus:
    """What `list` and the inventory show for a target, and what an app needs to draw it."""

    name: str
    group: str
    backing: str
    console: str
    control: str
    state: str
    detail: str = ""
    source: str = "config"
    """where the target comes from: config, or what discovery found it by (qemu, serial, folder)"""
    power: str = ""
    writer: str = ""
    writer_id: int = 0
    viewers: int = 0
    attached: str = ""
    """who is attached, in words"""
    transcript: str = ""
    alert: str = ""
    """the latest alert in words (`panic 2 min ago`), empty when none"""
    alert_line: str = ""
    """the console line that raised it"""
    lifecycle: str = ""
    """the machine's last lifecycle event seen by this Hub, in words (`the machine was reset
    2 min ago`), empty when none"""
    can_break: Capability = Capability(False, "not known yet")
    can_control: Capability = Capability(False, "not known yet")
    line: str = ""
    """the serial line's settings as the terminal server confirmed them (`9600 8N1, no flow
    control`), or why it has none to set; empty for lines without settings"""
    can_set_baud: Capability = Capability(False, "not known yet")
    can_sysrq: Capability = Capability(False, "not known yet")
    """SysRq: by a serial BREAK, or through the control's keyboard where the line has none"""
    can_write: Capability = Capability(True)
    """typing, keys, BREAK and the write lock: not on a read-only line such as file://"""
    power_actions: tuple[str, ...] = ()
    """what the control can do to the power (on, soft-off, off, cycle); the others are disabled"""
    boot_overrides: tuple[str, ...] = ()
    """one-shot boot devices the control can set for the next boot (setup, pxe, disk)"""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TargetStatus:
        """The inverse of `as_dict`; keys it does not know are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        for key in ("can_break", "can_control", "can_set_baud", "can_sysrq", "can_write"):
            if isinstance(values.get(key), dict):
                values[key] = Capability(**values[key])
        for key in ("power_actions", "boot_overrides"):
            if isinstance(values.get(key), list):
                values[key] = tuple(str(v) for v in values[key])
        return cls(**values)


def status_table(statuses: list[TargetStatus]) -> str:
    """The `list` table, one target a row, the same locally and over SSH (`--json` for scripts)."""
    rows = [("NAME", "GROUP", "BACKING", "CONTROL", "STATE", "POWER", "WRITER", "VIEWERS", "ALERT")]
    for s in statuses:
        control = s.control.split(":", 1)[0] if s.control else "-"
        row = (s.name, s.group, s.backing, control, s.state, s.power or "-", s.writer or "-")
        rows.append((*row, str(s.viewers), s.alert or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


class HubAPI(Protocol):
    """The calls every way in uses. A call that is refused raises a ConsoleError that says why."""

    config: Config

    # -- targets ----------------------------------------------------------------------------

    def targets(self) -> tuple[Target, ...]:
        """The targets this hub serves (to this user)."""
        ...

    def target(self, name: str) -> Target: ...

    async def refresh_targets(self, max_age: float = 0.0) -> None:
        """Look again for targets found without config (running QEMU processes, serial ports,
        socket folders), unless the last look is under `max_age` seconds old; `targets()` then
        holds what was found."""
        ...

    def status(self, name: str) -> TargetStatus:
        """The last known status, without touching the line."""
        ...

    def can_break(self, name: str) -> Capability: ...

    def can_control(self, name: str) -> Capability: ...

    def can_write(self, name: str) -> Capability:
        """Whether the line takes input at all (an output file does not)."""
        ...

    def can_sysrq(self, name: str) -> Capability:
        """SysRq by a serial BREAK, else through the control's keyboard (QMP send-key)."""
        ...

    async def probe(self, name: str) -> TargetStatus:
        """Status with live reachability and, where there is a control, the power state."""
        ...

    async def power_state(self, name: str) -> str: ...

    # -- viewers ----------------------------------------------------------------------------

    async def attach(
        self,
        name: str,
        *,
        who: str = "",
        role: Role = Role.ADMIN,
        source: str = "local",
        write: bool = True,
        wait: float = 0.0,
    ) -> Viewer:
        """Attach a viewer; with write, it takes the write lock if nobody holds it; with wait,
        until the line first connects. Its first events redraw the current screen.

        `who` and `source` name the operator in process (default: this Unix user, locally);
        through a server they are the server's to say, and `role` can only be lowered there."""
        ...

    async def detach(self, viewer: Viewer) -> None: ...

    async def snapshot(self, viewer: Viewer) -> None:
        """Send the viewer a fresh snapshot of the screen (it fell behind)."""
        ...

    async def reconnect(self, viewer: Viewer) -> None:
        """Drop the console line and connect again now."""
        ...

    async def resize(self, viewer: Viewer, columns: int, rows: int) -> None: ...

    async def sync_size(self, viewer: Viewer, columns: int, rows: int) -> None: ...

    # -- the write lock ---------------------------------------------------------------------

    async def request_lock(self, viewer: Viewer) -> bool:
        """Take the lock when free, else ask its holder. True when the viewer now writes."""
        ...

    async def hand_over(self, viewer: Viewer, to: int = 0) -> LockHolder | None:
        """The holder gives the lock to viewer id `to`, or to whoever asked last."""
        ...

    async def take_lock(self, viewer: Viewer) -> None: ...

    # -- actions ----------------------------------------------------------------------------

    async def write(self, viewer: Viewer, data: bytes, *, paced: bool = False) -> None:
        """Keystrokes, or a paste (paced to the line). Their bytes are never recorded."""
        ...

    async def send_keys(self, viewer: Viewer, names: list[str]) -> bytes: ...

    async def send_break(self, viewer: Viewer) -> None: ...

    async def sysrq(self, viewer: Viewer, sysrq_keys: str, *, pause: float = 2.0) -> str:
        """Send SysRq keys; what was done, in words, saying which path it took."""
        ...

    async def take_console(self, viewer: Viewer) -> None:
        """An admin takes the console from another client of the hypervisor (libvirt FORCE)."""
        ...

    async def nmi(self, viewer: Viewer) -> None: ...

    async def set_baud(self, viewer: Viewer, baud: int) -> str:
        """Change the baud rate of the terminal server's port (rfc2217://) for this session and
        its reconnects; the line in words, as the server confirmed it."""
        ...

    async def reset(self, viewer: Viewer) -> None: ...

    async def power(self, viewer: Viewer, action: str) -> None:
        """Power on, soft-off, off or cycle the machine through its control (audited, marked)."""
        ...

    async def boot_override(self, viewer: Viewer, device: str) -> None:
        """Boot once from `device` (setup, pxe, disk) at the next boot, through the control."""
        ...

    async def take_over(self, viewer: Viewer) -> None:
        """An admin ends another client's session on a one-session console (IPMI SOL) and
        connects in its place (audited)."""
        ...

    async def boot_menu(self, viewer: Viewer, menu: str = "grub", timeout: float = 60.0) -> str:
        """Reset the machine through its control, watch the boot for `menu` (grub: the boot
        loader's; firmware: SeaBIOS's boot menu or UEFI setup), send the key that holds it and
        say which menu is up; UnreachableError says why it never came."""
        ...

    async def boot_keys(self, viewer: Viewer, action: str, value: str = "") -> str:
        """A boot menu helper (entry N, edit, append ARG, boot, command-line) as paced keys;
        what it did, in words."""
        ...

    async def close(self) -> None: ...

"""The Hub owns every Session, and is the in-process implementation of `HubAPI` (core/api.py).

Each call takes the Viewer acting (who, role, from where) so that permissions, the write lock and the
audit log are enforced in one place. The API passes only plain data, so it can be served over a local
socket to app processes of the SSH server (core/hubwire/). Keeping every such rule in this one place
is why the file is long.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

from console_tui.core import keys
from console_tui.core.alerts import Alert, describe, run_alert_command
from console_tui.core.api import (
    LOCK_REQUESTED,
    Capability,
    Event,
    EventKind,
    LockHolder,
    Role,
    TargetStatus,
    Viewer,
)
from console_tui.core.audit import AuditLog
from console_tui.core.backings import make_backing, parse_console_uri
from console_tui.core.config import Config, Target, User
from console_tui.core.control import Control, make_control
from console_tui.core.errors import ConsoleError, NotPermittedError, UnreachableError
from console_tui.core.paths import local_user
from console_tui.core.probe import probe_console, probe_power
from console_tui.core.session import Session, SessionState

DENIED_QUIET = 60.0
_LINE_DOWN = (SessionState.UNREACHABLE, SessionState.WAITING)


class Hub:
    def __init__(self, config: Config, *, audit: AuditLog | None = None) -> None:
        self.config = config
        self.audit = audit or AuditLog()
        self.sessions: dict[str, Session] = {}
        self._lock_requests: dict[str, Viewer] = {}
        self._lock_waiting: dict[str, list[Viewer]] = {}
        """Per target, who gets the write lock when its line comes up, first in line first."""
        self._denied: dict[tuple[int, str], float] = {}
        self._alert_tasks: set[asyncio.Task[None]] = set()

    # -- targets ----------------------------------------------------------------------------

    def targets(self) -> tuple[Target, ...]:
        return self.config.targets

    def target(self, name: str) -> Target:
        return self.config.target(name)

    def visible_targets(self, user: User | None = None) -> tuple[Target, ...]:
        """The targets a user may see and open: those in the user's groups ("*" for all)."""
        if user is None or "*" in user.groups:
            return self.config.targets
        return tuple(t for t in self.config.targets if t.group in user.groups)

    def may_see(self, user: User | None, name: str) -> bool:
        return any(t.name == name for t in self.visible_targets(user))

    def session(self, name: str) -> Session | None:
        return self.sessions.get(name)

    def status(self, name: str) -> TargetStatus:
        target = self.target(name)
        session = self.sessions.get(name)
        holder = session.lock_holder if session else None
        alert = session.alerts.latest() if session else None
        return TargetStatus(
            name=target.name,
            group=target.group,
            backing=parse_console_uri(target.console).scheme,
            console=target.console,
            control=target.control,
            state=session.state.value if session else "closed",
            detail=session.last_error if session else "",
            writer=holder.label if holder else "",
            writer_id=holder.id if holder else 0,
            viewers=len(session.viewers) if session else 0,
            attached=session.viewer_summary() if session else "",
            transcript=str(session.transcript_path) if session else "",
            alert=describe(alert) if alert else "",
            alert_line=alert.line if alert else "",
            can_break=self.can_break(name),
            can_control=self.can_control(name),
        )

    async def probe(self, name: str) -> TargetStatus:
        """Status with live reachability and, where there is a control, the power state."""
        status = self.status(name)
        target = self.target(name)
        state, detail = status.state, status.detail
        if status.state == "closed":
            state, detail = await probe_console(target)
        power, trouble = await probe_power(target.control) if target.control else ("", "")
        detail = detail or trouble
        return dataclasses.replace(status, state=state, detail=detail, power=power)

    # -- sessions and viewers ---------------------------------------------------------------

    async def open(self, name: str, *, wait: float = 0.0) -> Session:
        """The live session of a target, started if needed; with wait, until it first connects."""
        target = self.target(name)
        session = self.sessions.get(name)
        if session is None or session.state is SessionState.CLOSED:
            session = Session(target, self.config.settings)
            session.on_alert = self._alerted
            session.on_state = self._line_changed
            self.sessions[name] = session
            session.start()
            self.audit.record("connect", who="hub", target=name)
        if wait:
            await session.wait_ready(wait)
        return session

    def _alerted(self, session: Session, alert: Alert) -> None:
        """A console printed trouble: say so to its viewers, audit and mark it, run the command."""
        name = session.target.name
        self.audit.record("alert", who="hub", target=name, alert=alert.name, line=alert.line)
        session.transcript.mark(f"alert: {alert.name}: {alert.line}")
        session.broadcast(Event(EventKind.NOTICE, text=f"ALERT {alert.name}: {alert.line}"))
        command = self.config.settings.alert_command
        if command:
            task = asyncio.get_running_loop().create_task(
                run_alert_command(command, name, alert, self.config.settings.alert_timeout)
            )
            self._alert_tasks.add(task)
            task.add_done_callback(self._alert_tasks.discard)

    async def capture(self) -> list[str]:
        """Open every target's line that has `capture` on, and hold it whether anyone watches or
        not: transcript, screen and scrollback stay current (`serve`). The names opened."""
        names = [t.name for t in self.targets() if t.capture]
        for name in names:
            await self.open(name)
        return names

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
        """Attach a viewer; with write, it takes the write lock if nobody holds it."""
        session = await self.open(name, wait=wait)
        who = who or local_user()
        viewer = Viewer(target=name, who=who, role=role, source=source, last_input=time.monotonic())
        session.add_viewer(viewer)
        self.audit.record("attach", who=who, target=name, source=source, role=role)
        if write and viewer.may_write and session.lock_holder is None:
            self._lock_or_wait(session, viewer)
        return viewer

    async def detach(self, viewer: Viewer) -> None:
        session = self.sessions.get(viewer.target)
        if session is None or viewer.id not in session.viewers:
            return
        was_writer = session.lock_holder is viewer
        session.remove_viewer(viewer)
        waiting = self._lock_waiting.get(viewer.target, [])
        if viewer in waiting:
            waiting.remove(viewer)
        self.audit.record("detach", who=viewer.who, target=viewer.target, source=viewer.source)
        if was_writer:
            self.audit.record("lock", who=viewer.who, target=viewer.target, action="released")
        writers_left = any(v.may_write for v in session.viewers.values())
        text = session.target.on_detach
        if (
            text
            and viewer.may_write
            and not writers_left
            and session.state is SessionState.CONNECTED
        ):
            with contextlib.suppress(ConsoleError, OSError):
                await session.write(_unescape(text).encode())

    async def detach_idle(self, timeout: float) -> list[Viewer]:
        """Detach operators and admins who typed nothing for `timeout` seconds, telling them why."""
        now = time.monotonic()
        idle = [
            viewer
            for session in self.sessions.values()
            for viewer in session.viewers.values()
            if viewer.may_write and now - viewer.last_input >= timeout
        ]
        for viewer in idle:
            await self.detach(viewer)
            why = f"detached: no input for {timeout:.0f} s (idle timeout)"
            viewer.deliver(Event(EventKind.DETACHED, text=why))
        return idle

    async def snapshot(self, viewer: Viewer) -> None:
        """Send the viewer a fresh snapshot of the screen (it fell behind)."""
        session = self._session_of(viewer)
        viewer.deliver(Event(EventKind.SNAPSHOT, session.screen.snapshot()))

    async def reconnect(self, viewer: Viewer) -> None:
        """Drop the console line and connect again now (every viewer of it sees the state change)."""
        session = self._session_of(viewer)
        self._require(viewer, Role.OPERATOR, "reconnect the console")
        self.audit.record(
            "connect",
            who=viewer.who,
            target=viewer.target,
            source=viewer.source,
            action="reconnect",
        )
        await session.reconnect()

    async def close(self) -> None:
        for task in list(self._alert_tasks):
            task.cancel()
        for session in list(self.sessions.values()):
            await session.close()
        self.sessions.clear()
        self._lock_waiting.clear()

    # -- the write lock ---------------------------------------------------------------------
    #
    # The write lock says who types on a live line, so nobody holds it while the line is down: an
    # operator who attaches (or asks) then waits in line for it, and a holder whose line drops
    # gives it up and is first in line when the line comes back, so a bounce of the line never
    # hands the console to somebody else.

    def _set_lock(self, session: Session, viewer: Viewer | None, action: str) -> None:
        previous = session.lock_holder
        session.set_lock(viewer)
        who = viewer.who if viewer else (previous.who if previous else "")
        self.audit.record("lock", who=who, target=session.target.name, action=action)

    def _lock_or_wait(self, session: Session, viewer: Viewer, *, first: bool = False) -> bool:
        """Give a free lock to `viewer` on a live line (True), or put it in line for when the
        line comes up (first in line with `first`)."""
        if session.state is SessionState.CONNECTED:
            self._set_lock(session, viewer, "took")
            return True
        waiting = self._lock_waiting.setdefault(session.target.name, [])
        if viewer in waiting:
            waiting.remove(viewer)
        waiting.insert(0 if first else len(waiting), viewer)
        return False

    def _line_changed(self, session: Session) -> None:
        """The line came up (the first in line takes the lock) or went down (the holder lets go
        and goes first in line)."""
        name = session.target.name
        holder = session.lock_holder
        if session.state is SessionState.CONNECTED:
            waiting = self._lock_waiting.pop(name, [])
            present = [v for v in waiting if v.id in session.viewers]
            if holder is None and present:
                self._set_lock(session, present[0], "took")
        elif session.state in _LINE_DOWN and holder is not None:
            self._set_lock(session, None, "released: the line is down")
            self._lock_or_wait(session, holder, first=True)

    async def request_lock(self, viewer: Viewer) -> bool:
        """Take the lock when free; otherwise ask its holder. True when the viewer now writes."""
        session = self._session_of(viewer)
        self._require(viewer, Role.OPERATOR, "write to the console")
        holder = session.lock_holder
        if holder is viewer:
            return True
        if holder is None:
            if self._lock_or_wait(session, viewer):
                return True
            viewer.deliver(
                Event(
                    EventKind.NOTICE,
                    text=f"the line is {session.state}: the write lock is yours when it is up",
                )
            )
            return False
        self._lock_requests[session.target.name] = viewer
        holder.deliver(
            Event(
                EventKind.NOTICE,
                text=f"{viewer.label} asks for the write lock",
                detail=LOCK_REQUESTED,
            )
        )
        viewer.deliver(Event(EventKind.NOTICE, text=f"asked {holder.label} for the write lock"))
        self.audit.record("lock", who=viewer.who, target=viewer.target, action="requested")
        return False

    async def hand_over(self, viewer: Viewer, to: int = 0) -> LockHolder | None:
        """The holder gives the lock to viewer id `to`, or to whoever asked last."""
        session = self._session_of(viewer)
        if session.lock_holder is not viewer:
            raise NotPermittedError("you do not hold the write lock", where=viewer.target)
        asked = self._lock_requests.pop(viewer.target, None) if not to else None
        receiver = session.viewers.get(to) if to else asked
        if to and receiver is None:
            raise UnreachableError("that viewer is no longer attached", where=viewer.target)
        if receiver is None or receiver.id not in session.viewers:
            self._set_lock(session, None, "released")
            return None
        self._set_lock(session, receiver, f"handed to {receiver.who}")
        receiver.deliver(Event(EventKind.NOTICE, text=f"{viewer.label} handed you the write lock"))
        return LockHolder(receiver.id, receiver.label)

    async def take_lock(self, viewer: Viewer) -> None:
        """An admin takes the lock; the previous holder is told."""
        session = self._session_of(viewer)
        holder = session.lock_holder
        if holder is not None and holder is not viewer:
            self._require(viewer, Role.ADMIN, "take the write lock from another operator")
            holder.deliver(
                Event(EventKind.NOTICE, text=f"{viewer.label} (admin) took the write lock")
            )
        else:
            self._require(viewer, Role.OPERATOR, "write to the console")
        if session.state is SessionState.CONNECTED:
            self._set_lock(session, viewer, "taken" if holder else "took")
        else:
            self._lock_or_wait(session, viewer, first=True)

    async def resize(self, viewer: Viewer, columns: int, rows: int) -> None:
        """The writer's window size becomes the session's, so cursor reports match what it sees."""
        session = self._session_of(viewer)
        if session.lock_holder in (None, viewer) and (columns, rows) != session.screen.size:
            session.screen.resize(max(columns, 2), max(rows, 2))

    async def sync_size(self, viewer: Viewer, columns: int, rows: int) -> None:
        """Tell the guest the window size: a serial line carries none, so type `stty rows R cols C`."""
        await self.resize(viewer, columns, rows)
        await self.write(viewer, f"stty rows {rows} cols {columns}\r".encode())

    # -- actions ----------------------------------------------------------------------------

    async def write(self, viewer: Viewer, data: bytes, *, paced: bool = False) -> None:
        """Keystrokes or a paste (paced). Their bytes are never recorded: passwords are typed
        here; a paste is audited by its size only."""
        session = self._writer_session(viewer, "type on the console")
        viewer.last_input = time.monotonic()
        if paced:
            self.audit.record(
                "paste", who=viewer.who, target=viewer.target, source=viewer.source, size=len(data)
            )
        data, refusal = self._console_rules(session, data)
        if data:
            await session.write(data, pace_baud=session.target.baud if paced else 0)
        if refusal:
            raise NotPermittedError(refusal, where=viewer.target)

    async def send_keys(self, viewer: Viewer, names: list[str]) -> bytes:
        session = self._writer_session(viewer, "send keys")
        encoded = b"".join(
            keys.encode_key(n, session.target.keys, app_cursor=session.screen.app_cursor_keys)
            for n in names
        )
        data, refusal = self._console_rules(session, encoded)
        if data:
            await session.write(data)
        self.audit.record(
            "key", who=viewer.who, target=viewer.target, source=viewer.source, keys=names
        )
        if refusal:
            raise NotPermittedError(refusal, where=viewer.target)
        return data

    @staticmethod
    def _console_rules(session: Session, data: bytes) -> tuple[bytes, str]:
        """What the console accepts of `data` now, and why not the rest: one rule for every way in.

        A Windows target at its SAC> prompt takes no VT100 sequences (arrows, editing keys)."""
        if session.target.os == "windows" and keys.at_sac_prompt(session.screen.cursor_row_text()):
            return keys.sac_prompt_filter(data)
        return data, ""

    def can_break(self, name: str) -> Capability:
        session = self.sessions.get(name)
        backing = session.backing if session else make_backing(self.target(name).console)
        if backing is None or not backing.can_break:
            return Capability(False, backing.break_reason if backing else "not connected")
        return Capability(True)

    def can_control(self, name: str) -> Capability:
        if not self.target(name).control:
            return Capability(
                False,
                'no control backing: add control = "qmp:///path" (or libvirt/ipmi) to the target',
            )
        return Capability(True)

    async def send_break(self, viewer: Viewer) -> None:
        session = self._writer_session(viewer, "send BREAK")
        self._require_break(viewer.target)
        await session.send_break()
        self.audit.record("break", who=viewer.who, target=viewer.target, source=viewer.source)

    async def sysrq(self, viewer: Viewer, sysrq_keys: str, *, pause: float = 2.0) -> None:
        session = self._writer_session(viewer, "send SysRq")
        self._require_break(viewer.target)
        plan = keys.sysrq_plan(sysrq_keys, pause=pause)
        self.audit.record(
            "sysrq", who=viewer.who, target=viewer.target, source=viewer.source, keys=sysrq_keys
        )
        await session.run_steps(plan)

    async def nmi(self, viewer: Viewer) -> None:
        await self._control(viewer, "nmi", "send NMI")

    async def reset(self, viewer: Viewer) -> None:
        await self._control(viewer, "reset", "reset the machine")

    async def power_state(self, name: str) -> str:
        capability = self.can_control(name)
        if not capability.ok:
            raise NotPermittedError(capability.reason, where=name)
        return await make_control(self.target(name).control).power_state()

    async def _control(self, viewer: Viewer, action: str, words: str) -> None:
        self._require(viewer, Role.OPERATOR, words)
        capability = self.can_control(viewer.target)
        if not capability.ok:
            raise NotPermittedError(f"cannot {words}: {capability.reason}", where=viewer.target)
        control: Control = make_control(self.target(viewer.target).control)
        self.audit.record(action, who=viewer.who, target=viewer.target, source=viewer.source)
        await getattr(control, action)()
        session = self.sessions.get(viewer.target)
        if session:
            session.broadcast(Event(EventKind.NOTICE, text=f"{viewer.label} sent {action.upper()}"))

    # -- checks -----------------------------------------------------------------------------

    def _session_of(self, viewer: Viewer) -> Session:
        session = self.sessions.get(viewer.target)
        if session is None or viewer.id not in session.viewers:
            raise UnreachableError(
                "not attached", where=viewer.target, fix="attach to the target first"
            )
        return session

    def _require(self, viewer: Viewer, role: Role, words: str) -> None:
        if not viewer.role.at_least(role):
            # One record per viewer and action a minute: a viewer typing is not a flood of lines.
            key = (viewer.id, words)
            now = time.monotonic()
            if now - self._denied.get(key, -DENIED_QUIET) >= DENIED_QUIET:
                self._denied[key] = now
                self.audit.record(
                    "denied",
                    who=viewer.who,
                    target=viewer.target,
                    source=viewer.source,
                    action=words,
                )
            raise NotPermittedError(
                f"a {viewer.role} cannot {words}",
                where=viewer.target,
                fix=f"ask an admin for the {role} role",
            )

    def _writer_session(self, viewer: Viewer, words: str) -> Session:
        """The session, if this viewer may write to its line now (taking a free write lock)."""
        session = self._session_of(viewer)
        self._require(viewer, Role.OPERATOR, words)
        holder = session.lock_holder
        if holder is None:
            session.check_line()
            self._set_lock(session, viewer, "took")
        elif holder is not viewer:
            yours = " (your other session)" if holder.who == viewer.who else ""
            raise NotPermittedError(
                f"{holder.label}{yours} holds the write lock",
                where=viewer.target,
                fix="ask for it (~w in attach, or 'Request write lock' in the app)",
            )
        return session

    def _require_break(self, name: str) -> None:
        capability = self.can_break(name)
        if not capability.ok:
            raise NotPermittedError(f"cannot send BREAK: {capability.reason}", where=name)


def _unescape(text: str) -> str:
    """`on_detach = "exit\\r"` in TOML is already a CR; also accept a literal backslash-r."""
    return text.replace("\\r", "\r").replace("\\n", "\n")

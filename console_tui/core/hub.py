"""The Hub owns every Session, and is the in-process implementation of `HubAPI` (core/api.py).

Each call takes the Viewer acting (who, role, from where) so that permissions, the write lock and the
audit log are enforced in one place. The API passes only plain data, so it can be served over a local
socket to app processes of the SSH server (core/hubwire/). What the Hub does for lines nobody may
be watching (capture, lifecycle events, alerts) is core/watch.py's; the target list is
core/inventory.py's. Every call of the API is here, past 400 lines, beside the permission,
write-lock and marker rules they share.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Iterator

from console_tui.core import bootmenu, keys
from console_tui.core.alerts import describe
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
from console_tui.core.backings import Backing, make_backing, parse_console_uri, read_only_reason
from console_tui.core.backings.comport import LineError, SettableLine, baud_refusal, check_baud
from console_tui.core.config import Config, Target, User
from console_tui.core.control import Control, make_control
from console_tui.core.errors import (
    ConsoleError,
    NotPermittedError,
    UnreachableError,
    UsageError,
)
from console_tui.core.inventory import TargetBook
from console_tui.core.paths import local_user, state_dir
from console_tui.core.power import control_offers, take_over_line
from console_tui.core.probe import probe_console, probe_power
from console_tui.core.screen import MAX_COLUMNS, MAX_ROWS, bounded_size
from console_tui.core.session import Session, SessionState
from console_tui.core.watch import Watch

DENIED_QUIET = 60.0
_LINE_DOWN = (SessionState.UNREACHABLE, SessionState.WAITING)


class Hub:
    def __init__(self, config: Config, *, audit: AuditLog | None = None) -> None:
        self.config = config
        self.audit = audit or AuditLog(
            max_bytes=config.settings.audit_max_bytes, files=config.settings.audit_files
        )
        self.sessions: dict[str, Session] = {}
        self._lock_requests: dict[str, Viewer] = {}
        self._windows: dict[int, tuple[int, int]] = {}
        """The window size each viewer last asked for, applied when it takes the write lock."""
        self._lock_waiting: dict[str, list[Viewer]] = {}
        """Per target, who gets the write lock when its line comes up, first in line first."""
        self._denied: dict[tuple[int, str], float] = {}
        self.watch = Watch(self)
        self.book = TargetBook(
            config.targets,
            str(config.path or "config"),
            memory=state_dir() / "discovered-names.json",
            remote_entries=config.remotes,
            hypervisors=config.hypervisors,
        )

    # -- targets ----------------------------------------------------------------------------

    def targets(self) -> tuple[Target, ...]:
        return self.book.targets

    def target(self, name: str) -> Target:
        return self.book.target(name)

    async def refresh_targets(self, max_age: float = 0.0) -> None:
        """Look again for targets without config, unless the last look is under `max_age` s old.
        A found target that went away goes, unless a viewer has it open; its session closes."""
        gone = await self.book.look(self.config.discovery, max_age=max_age, keep=self._has_viewers)
        for name in gone:
            await self.watch.forget(name)
            session = self.sessions.pop(name, None)
            if session is not None:
                await session.close()
        if self.watch.capturing:
            await self.watch.capture()  # hold what was found since

    def _has_viewers(self, name: str) -> bool:
        session = self.sessions.get(name)
        return session is not None and bool(session.viewers)

    def visible_targets(self, user: User | None = None) -> tuple[Target, ...]:
        """The targets a user may see and open (the rule is `TargetBook.visible`'s)."""
        return self.book.visible(user)

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
            source=target.source,
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
            lifecycle=self.watch.lifecycle_words(name),
            can_break=self.can_break(name),
            can_control=self.can_control(name),
            line=session.backing.line
            if session and isinstance(session.backing, SettableLine)
            else "",
            can_set_baud=self._can_set_baud(name),
            can_sysrq=self.can_sysrq(name),
            can_write=self.can_write(name),
            **control_offers(target),
        )

    async def probe(self, name: str) -> TargetStatus:
        """Status with live reachability and, where there is a control, the power state."""
        status = self.status(name)
        target = self.target(name)
        state, detail = status.state, status.detail
        line = status.line
        if status.state == "closed":
            state, detail, line = await probe_console(target)
        power, trouble = (
            await probe_power(target.control, target.password()) if target.control else ("", "")
        )
        detail = detail or trouble
        return dataclasses.replace(status, state=state, detail=detail, power=power, line=line)

    # -- sessions and viewers ---------------------------------------------------------------

    async def open(self, name: str, *, wait: float = 0.0) -> Session:
        """The live session of a target, started if needed; with wait, until it first connects."""
        target = self.target(name)
        session = self.sessions.get(name)
        if session is None or session.state is SessionState.CLOSED:
            session = Session(target, self.config.settings)
            session.on_alert = self.watch.alerted
            session.on_state = self._line_changed
            self.sessions[name] = session
            session.start()
            self.audit.record("connect", who="hub", target=name)
            if target.control.startswith("libvirt:"):
                self.watch.watch_hypervisor(target.control)
        if wait:
            await session.wait_ready(wait)
        return session

    async def capture(self) -> list[str]:
        """Hold every captured line from now on, whether anyone watches or not (`serve`); the
        names held. See core/watch.py."""
        return await self.watch.capture()

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
        session.mark(f"{viewer.label} attached ({role})")
        self.audit.record("attach", who=who, target=name, source=source, role=role)
        if write and viewer.may_write and session.lock_holder is None and self.can_write(name).ok:
            self._lock_or_wait(session, viewer)
        return viewer

    async def detach(self, viewer: Viewer) -> None:
        await self._detach(viewer)

    async def _detach(self, viewer: Viewer, why: str = "") -> None:
        session = self.sessions.get(viewer.target)
        if session is None or viewer.id not in session.viewers:
            return
        was_writer = session.lock_holder is viewer
        session.remove_viewer(viewer)
        self._windows.pop(viewer.id, None)
        if was_writer:
            session.mark(f"{viewer.label} released the write lock")
        session.mark(f"{viewer.label} detached: {why}" if why else f"{viewer.label} detached")
        waiting = self._lock_waiting.get(viewer.target, [])
        if viewer in waiting:
            waiting.remove(viewer)
        self.audit.record("detach", who=viewer.who, target=viewer.target, source=viewer.source)
        if was_writer:
            self._audit_lock(viewer, "released")
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
            why = f"no input for {timeout:.0f} s (idle timeout)"
            await self._detach(viewer, why)
            viewer.deliver(Event(EventKind.DETACHED, text=f"detached: {why}"))
        return idle

    async def snapshot(self, viewer: Viewer) -> None:
        """Send the viewer a fresh snapshot of the screen (it fell behind)."""
        session = self._session_of(viewer)
        viewer.deliver(Event(EventKind.SNAPSHOT, session.screen.snapshot()))

    async def reconnect(self, viewer: Viewer) -> None:
        """Drop the console line and connect again now (every viewer of it sees the state change)."""
        self._session_of(viewer)
        self._require(viewer, Role.OPERATOR, "reconnect the console")
        await self._reconnect(viewer, "reconnect")

    async def _reconnect(self, viewer: Viewer, action: str) -> None:
        session = self._session_of(viewer)
        self.audit.record(
            "connect", who=viewer.who, target=viewer.target, source=viewer.source, action=action
        )
        await session.reconnect(viewer.label)

    async def close(self) -> None:
        await self.watch.close()
        await asyncio.gather(*(session.close() for session in self.sessions.values()))
        await asyncio.gather(*(link.close() for link in self.book.links))
        self.sessions.clear()
        self._lock_waiting.clear()
        self.audit.close()

    # -- the write lock ---------------------------------------------------------------------
    #
    # The write lock says who types on a live line, so nobody holds it while the line is down: an
    # operator who attaches (or asks) then waits in line for it, and a holder whose line drops
    # gives it up and is first in line when the line comes back, so a bounce of the line never
    # hands the console to somebody else.

    def _set_lock(
        self, session: Session, holder: Viewer | None, action: str, *, by: Viewer
    ) -> None:
        """Give the write lock to `holder` (None frees it), recording `by`, who did it."""
        previous = session.lock_holder
        session.set_lock(holder)
        if holder is not previous:
            session.mark(_lock_change(previous, holder, action))
        self._audit_lock(by, action)
        if holder is not None and (window := self._windows.get(holder.id)):
            self._resize_screen(session, holder, *window)

    def _audit_lock(self, by: Viewer, action: str) -> None:
        self.audit.record("lock", who=by.who, target=by.target, source=by.source, action=action)

    def _lock_or_wait(self, session: Session, viewer: Viewer, *, first: bool = False) -> bool:
        """Give a free lock to `viewer` on a live line (True), or put it in line for when the
        line comes up (first in line with `first`)."""
        if session.state is SessionState.CONNECTED:
            self._set_lock(session, viewer, "took", by=viewer)
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
                self._set_lock(session, present[0], "took", by=present[0])
        elif session.state in _LINE_DOWN and holder is not None:
            self._set_lock(session, None, "released: the line is down", by=holder)
            self._lock_or_wait(session, holder, first=True)

    async def request_lock(self, viewer: Viewer) -> bool:
        """Take the lock when free; otherwise ask its holder. True when the viewer now writes."""
        session = self._session_of(viewer)
        self._require(viewer, Role.OPERATOR, "write to the console")
        self._require_writable(viewer.target, "take the write lock")
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
        self._audit_lock(viewer, "requested")
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
            self._set_lock(session, None, "released", by=viewer)
            return None
        self._set_lock(session, receiver, f"handed to {receiver.who}", by=viewer)
        receiver.deliver(Event(EventKind.NOTICE, text=f"{viewer.label} handed you the write lock"))
        return LockHolder(receiver.id, receiver.label)

    async def take_lock(self, viewer: Viewer) -> None:
        """An admin takes the lock; the previous holder is told."""
        session = self._session_of(viewer)
        self._require_writable(viewer.target, "take the write lock")
        holder = session.lock_holder
        if holder is not None and holder is not viewer:
            self._require(viewer, Role.ADMIN, "take the write lock from another operator")
            holder.deliver(
                Event(EventKind.NOTICE, text=f"{viewer.label} (admin) took the write lock")
            )
        else:
            self._require(viewer, Role.OPERATOR, "write to the console")
        if session.state is SessionState.CONNECTED:
            self._set_lock(session, viewer, "taken" if holder else "took", by=viewer)
        else:
            self._lock_or_wait(session, viewer, first=True)

    async def resize(self, viewer: Viewer, columns: int, rows: int) -> None:
        """The writer's window size becomes the session's, so cursor reports match what it sees.

        Only the write lock's holder sizes the shared screen (any viewer may send any size), and
        never past `MAX_COLUMNS` x `MAX_ROWS`: a larger window is clamped, and its owner told."""
        session = self._session_of(viewer)
        self._windows[viewer.id] = (columns, rows)
        if session.lock_holder is viewer:
            self._resize_screen(session, viewer, columns, rows)

    @staticmethod
    def _resize_screen(
        session: Session, viewer: Viewer, columns: int, rows: int
    ) -> tuple[int, int]:
        """Size the session's screen for `viewer`'s window; the size it took."""
        size = bounded_size(max(columns, 2), max(rows, 2))
        if size == session.screen.size:
            return size
        if size != (columns, rows) and (columns > MAX_COLUMNS or rows > MAX_ROWS):
            viewer.deliver(
                Event(
                    EventKind.NOTICE,
                    text=f"your window is {columns}x{rows}; a console screen is at most "
                    f"{MAX_COLUMNS}x{MAX_ROWS}, so {session.target.name} uses {size[0]}x{size[1]}",
                )
            )
        session.resize(*size)
        return size

    async def sync_size(self, viewer: Viewer, columns: int, rows: int) -> None:
        """Tell the guest the window size: a serial line carries none, so type `stty rows R cols C`."""
        session = self._writer_session(viewer, "set the console's size")
        columns, rows = self._resize_screen(session, viewer, columns, rows)
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

    def _backing(self, name: str) -> Backing | None:
        session = self.sessions.get(name)
        return session.backing if session else make_backing(self.target(name).console)

    def can_break(self, name: str) -> Capability:
        backing = self._backing(name)
        if backing is None or not backing.can_break:
            return Capability(False, backing.break_reason if backing else "not connected")
        return Capability(True)

    def can_write(self, name: str) -> Capability:
        """Whether the line takes input at all (an output file does not)."""
        reason = read_only_reason(self._backing(name))
        return Capability(not reason, reason)

    def can_sysrq(self, name: str) -> Capability:
        """SysRq: a serial BREAK then the key, else Alt+SysRq+key through the control."""
        brk = self.can_break(name)
        if brk.ok or self.target(name).control:
            return brk if brk.ok else Capability(True)
        return Capability(
            False,
            f"{brk.reason}; SysRq needs a BREAK on the line, or a control backing "
            '(control = "qmp:///path" or libvirt) to press Alt+SysRq on the keyboard',
        )

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
        with _marked(session, f"{viewer.label} sent BREAK"):
            await session.send_break()
        self.audit.record("break", who=viewer.who, target=viewer.target, source=viewer.source)

    async def sysrq(self, viewer: Viewer, sysrq_keys: str, *, pause: float = 2.0) -> str:
        """SysRq by BREAK on the line; where the line cannot BREAK and the target has a control,
        Alt+SysRq+key through the control's keyboard. What was done, naming the path."""
        control_uri = self.target(viewer.target).control
        keyboard = bool(control_uri) and not self.can_break(viewer.target).ok
        session = self._writer_session(viewer, "send SysRq", line=not keyboard)
        if not keyboard:
            self._require_break(viewer.target)
        plan = keys.sysrq_plan(sysrq_keys, pause=pause)
        control = make_control(control_uri) if keyboard else None
        path = KEYBOARD_WORDS.get(control.kind, f"the {control.kind} control") if control else ""
        how = {"path": path} if path else {}
        self.audit.record(
            "sysrq",
            who=viewer.who,
            target=viewer.target,
            source=viewer.source,
            keys=sysrq_keys,
            **how,
        )
        if control is None:
            with _marked(session, f"{viewer.label} sent SysRq {sysrq_keys}"):
                await session.run_steps(plan)
            return f"sent BREAK then SysRq {sysrq_keys}"
        with _marked(session, f"{viewer.label} sent SysRq {sysrq_keys} through {path}"):
            await _press_sysrq(control, plan)
        return f"SysRq {sysrq_keys} sent through {path}: this line cannot carry a BREAK"

    def _can_set_baud(self, name: str) -> Capability:
        session = self.sessions.get(name)
        console = self.target(name).console
        backing = session.backing if session else make_backing(console)
        reason = baud_refusal(backing, parse_console_uri(console).scheme)
        return Capability(not reason, reason)

    async def set_baud(self, viewer: Viewer, baud: int) -> str:
        """Change the baud rate of a terminal server's port; reconnects keep it; all are told."""
        session = self._writer_session(viewer, "change the baud rate")
        capability = self._can_set_baud(viewer.target)
        if not capability.ok or not isinstance(session.backing, SettableLine):
            raise NotPermittedError(
                f"cannot change the baud rate: {capability.reason}", where=viewer.target
            )
        try:
            check_baud(baud)
        except LineError as exc:
            raise UsageError(str(exc), where=viewer.target, fix=exc.fix) from None
        self.audit.record(
            "baud", who=viewer.who, target=viewer.target, source=viewer.source, baud=baud
        )
        with _marked(session, f"{viewer.label} set the baud rate to {baud}"):
            line = await session.backing.set_baud(baud)
        session.line_baud = baud
        session.broadcast(Event(EventKind.NOTICE, text=f"{viewer.label} set the line to {line}"))
        return line

    async def take_console(self, viewer: Viewer) -> None:
        """An admin takes the console from another client of the hypervisor (libvirt's FORCE:
        a `virsh console` holding it is cut off); audited and marked."""
        session = self._session_of(viewer)
        self._require(viewer, Role.ADMIN, "take the console from another client")
        uri = parse_console_uri(session.target.console)
        if uri.scheme != "libvirt":
            raise NotPermittedError(
                "only a libvirt console can be taken from another client",
                where=viewer.target,
                fix="close the other client of this line",
            )
        from console_tui.core.backings.libvirt import take_over

        take_over(uri)
        self.audit.record(
            "connect",
            who=viewer.who,
            target=viewer.target,
            source=viewer.source,
            action="take-console",
        )
        session.mark(f"{viewer.label} took the console from any other client")
        await session.reconnect(viewer.label)

    async def nmi(self, viewer: Viewer) -> None:
        await self._control(viewer, "nmi", "send NMI")

    async def reset(self, viewer: Viewer) -> None:
        await self._control(viewer, "reset", "reset the machine")

    async def boot_menu(self, viewer: Viewer, menu: str = "grub", timeout: float = 60.0) -> str:
        session = self._writer_session(viewer, "reset into the boot menu")
        try:
            watch = bootmenu.MenuWatch(bootmenu.menu_kind(menu))
        except ValueError as exc:
            raise UsageError(str(exc), where="boot menu") from None
        output: asyncio.Queue[bytes] = asyncio.Queue()
        listener = output.put_nowait
        session.listeners.add(listener)
        try:
            await self.reset(viewer)
            try:
                up = await bootmenu.hold_menu(watch, output, session.write, timeout)
            except TimeoutError:
                if not (watch.want is bootmenu.MenuKind.FIRMWARE and "GRUB menu" in watch.seen):
                    raise
                # The firmware reads its setup key in a short window, which a loaded host can
                # miss: the boot reached its loader. Once more, from a fresh reset.
                session.mark("the firmware's key window went by: resetting once more")
                while not output.empty():
                    output.get_nowait()
                watch = bootmenu.MenuWatch(watch.want)
                await self.reset(viewer)
                up = await bootmenu.hold_menu(watch, output, session.write, timeout)
        except TimeoutError as exc:
            session.mark(f"boot menu never came: {exc}")
            raise UnreachableError(
                str(exc), where=viewer.target, fix="watch the console: `console-tui log -f`"
            ) from None
        finally:
            session.listeners.discard(listener)
        session.mark(f"{up} is up")
        session.broadcast(Event(EventKind.NOTICE, text=f"{up} is up"))
        return up

    async def boot_keys(self, viewer: Viewer, action: str, value: str = "") -> str:
        session = self._writer_session(viewer, "send boot menu keys")
        try:
            plan, said = bootmenu.helper_plan(action, value)
        except ValueError as exc:
            raise UsageError(str(exc), where="boot menu") from None
        self.audit.record(
            "key",
            who=viewer.who,
            target=viewer.target,
            source=viewer.source,
            keys=[f"boot {action}"],
        )
        with _marked(session, f"{viewer.label} {said}"):
            if action == "append":
                await session.run_steps(bootmenu.edit_plan())
                try:
                    await bootmenu.append_to_kernel_line(
                        session.run_steps, session.screen.display, bootmenu.kernel_edit(value)
                    )
                except TimeoutError as exc:
                    raise UnreachableError(
                        str(exc), where=viewer.target, fix="reset into the boot menu first"
                    ) from None
                except ValueError as exc:
                    raise UnreachableError(str(exc), where=viewer.target) from None
                return said
            await session.run_steps(plan)
        return said

    async def power_state(self, name: str) -> str:
        capability = self.can_control(name)
        if not capability.ok:
            raise NotPermittedError(capability.reason, where=name)
        target = self.target(name)
        return await make_control(target.control, password=target.password()).power_state()

    async def power(self, viewer: Viewer, action: str) -> None:
        await self._control(viewer, "power", f"power {action}", action)

    async def boot_override(self, viewer: Viewer, device: str) -> None:
        await self._control(viewer, "boot_override", f"set the next boot to {device}", device)

    async def take_over(self, viewer: Viewer) -> None:
        session = self._session_of(viewer)
        self._require(viewer, Role.ADMIN, "take over the console from another client")
        take_over_line(session.target.console)
        session.mark(f"{viewer.label} took the console over from another client")
        await self._reconnect(viewer, "take-over")

    async def _control(self, viewer: Viewer, action: str, words: str, arg: str = "") -> None:
        self._require(viewer, Role.OPERATOR, words)
        capability = self.can_control(viewer.target)
        if not capability.ok:
            raise NotPermittedError(f"cannot {words}: {capability.reason}", where=viewer.target)
        target = self.target(viewer.target)
        control: Control = make_control(target.control, password=target.password())
        offered = control_offers(target)
        if action == "power" and arg not in offered["power_actions"]:
            raise NotPermittedError(
                f"cannot {words}: the {control.kind} control does not offer it",
                where=viewer.target,
                fix=f"it offers: {', '.join(offered['power_actions']) or 'no power actions'}",
            )
        if action == "boot_override" and arg not in offered["boot_overrides"]:
            raise NotPermittedError(
                f"cannot {words}: the {control.kind} control has no boot override for it",
                where=viewer.target,
                fix=f"it offers: {', '.join(offered['boot_overrides']) or 'none'}",
            )
        extra = {"arg": arg} if arg else {}
        self.audit.record(
            action, who=viewer.who, target=viewer.target, source=viewer.source, **extra
        )
        session = self.sessions.get(viewer.target)
        said = CONTROL_WORDS.get(action, words)
        with _marked(
            session, f"{viewer.label} sent {said}" if not arg else f"{viewer.label}: {words}"
        ):
            await (getattr(control, action)(arg) if arg else getattr(control, action)())
        if session:
            text = (
                f"{viewer.label} sent {action.upper()}" if not arg else f"{viewer.label}: {words}"
            )
            session.broadcast(Event(EventKind.NOTICE, text=text))

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

    def _writer_session(self, viewer: Viewer, words: str, *, line: bool = True) -> Session:
        """The session, if this viewer may write to its line now (taking a free write lock).
        Without `line` (an action beside the line, such as SysRq on the keyboard) the write lock
        is only respected, and the line may be down or read-only."""
        session = self._session_of(viewer)
        self._require(viewer, Role.OPERATOR, words)
        if line:
            self._require_writable(viewer.target, words)
        holder = session.lock_holder
        if holder is None:
            if line:
                session.check_line()
                self._set_lock(session, viewer, "took", by=viewer)
        elif holder is not viewer:
            yours = " (your other session)" if holder.who == viewer.who else ""
            raise NotPermittedError(
                f"{holder.label}{yours} holds the write lock",
                where=viewer.target,
                fix="ask for it (~w in attach, or 'Request write lock' in the app)",
            )
        return session

    def _require_writable(self, name: str, words: str) -> None:
        capability = self.can_write(name)
        if not capability.ok:
            raise NotPermittedError(f"cannot {words}: {capability.reason}", where=name)

    def _require_break(self, name: str) -> None:
        capability = self.can_break(name)
        if not capability.ok:
            raise NotPermittedError(f"cannot send BREAK: {capability.reason}", where=name)


CONTROL_WORDS = {"nmi": "NMI", "reset": "reset"}
KEYBOARD_WORDS = {"qmp": "QMP send-key", "libvirt": "libvirt sendKey"}
"""How SysRq reaches a machine's keyboard, by control kind, in the words the menus show."""


async def _press_sysrq(control: Control, plan: list[keys.Step]) -> None:
    """A serial SysRq plan pressed on the keyboard: each key with Alt+SysRq, paced alike, with
    no BREAK nor its settling pause."""
    for step, before in zip(plan, [None, *plan], strict=False):
        if step.kind == "send":
            await control.sysrq(step.data.decode())
        elif step.kind == "sleep" and (before is None or before.kind != "break"):
            await asyncio.sleep(step.seconds)


@contextlib.contextmanager
def _marked(session: Session | None, text: str) -> Iterator[None]:
    """Mark an action before it runs, so the console's answer follows the marker; note a failure."""
    if session is None:
        yield
        return
    session.mark(text)
    try:
        yield
    except Exception as exc:
        session.mark(f"{text}: failed ({exc})")
        raise


def _lock_change(previous: Viewer | None, viewer: Viewer | None, action: str) -> str:
    """The marker for a change of the write lock's holder, naming who."""
    if viewer is None:
        return f"{previous.label if previous else 'nobody'} released the write lock"
    if previous is None:
        return f"{viewer.label} took the write lock"
    if action == "taken":
        return f"{viewer.label} took the write lock from {previous.label}"
    return f"{previous.label} handed the write lock to {viewer.label}"


def _unescape(text: str) -> str:
    """`on_detach = "exit\\r"` in TOML is already a CR; also accept a literal backslash-r."""
    return text.replace("\\r", "\r").replace("\\n", "\n")

"""A Session is one live console: its backing, reconnects, screen model, transcript and viewers.

The Session reads the console, feeds every byte to its screen model (which answers the guest's
cursor-position and device-attribute questions) and to the transcript, and fans output out to its
viewers through bounded queues: a slow viewer loses frames and gets a fresh snapshot, it never holds
up the console or the transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fcntl
import hashlib
import os
from collections.abc import Callable

from console_tui.core.alerts import Alert, AlertWatch
from console_tui.core.api import Event, EventKind, Viewer
from console_tui.core.backings import Backing, BackingClosed, make_backing, parse_console_uri
from console_tui.core.config import Settings, Target
from console_tui.core.errors import ConsoleError, UnreachableError
from console_tui.core.keys import Step
from console_tui.core.paths import private_dir, runtime_dir
from console_tui.core.screen import Screen, make_screen
from console_tui.core.transcript import Transcript, transcript_path

BACKOFF_FIRST = 0.25
BACKOFF_MAX = 5.0
CLAIM_POLL = 0.5
ONE_CLIENT_SCHEMES = ("unix", "serial", "pty")
"""Lines that serve one client: a second one sits unaccepted in QEMU's backlog or splits the bytes."""


class SessionState(enum.StrEnum):
    CONNECTING = "connecting"
    WAITING = "waiting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    UNREACHABLE = "unreachable"
    CLOSED = "closed"


class LineClaim:
    """A claim on a one-client console line, seen by every console-tui this user runs here.

    A QEMU socket keeps a second client unaccepted in its backlog, looking connected, and hands it
    the line (with whatever it typed meanwhile) when the first leaves; a serial port opened twice
    splits the guest's bytes. So a second Hub waits, saying who holds the line, and never opens it.
    """

    def __init__(self, target: Target) -> None:
        uri = parse_console_uri(target.console)
        self.needed = uri.scheme in ONE_CLIENT_SCHEMES
        key = hashlib.sha256(os.path.realpath(uri.path).encode()).hexdigest()[:24]
        self.path = runtime_dir() / "lines" / f"{key}.lock"
        self._fd: int | None = None

    def take(self) -> str:
        """Hold the line; return an empty string, or who holds it when another process does."""
        if not self.needed or self._fd is not None:
            return ""
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            return holder or "another console-tui"
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"console-tui pid {os.getpid()}".encode(), 0)
        self._fd = fd
        return ""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Session:
    """One target's live console, shared by every viewer attached to it."""

    def __init__(
        self, target: Target, settings: Settings | None = None, *, columns: int = 80, rows: int = 24
    ) -> None:
        self.target = target
        self.settings = settings or Settings()
        self.state = SessionState.CONNECTING
        self.last_error = ""
        self._told_error = ""
        self.connects = 0
        self.viewers: dict[int, Viewer] = {}
        self.lock_holder: Viewer | None = None
        self.backing: Backing | None = self._new_backing()
        self.screen: Screen = make_screen(
            columns, rows, scrollback_lines=self.settings.scrollback_lines, on_reply=self._reply
        )
        self.transcript_path = transcript_path(target.name)
        self.transcript = Transcript(
            self.transcript_path,
            max_bytes=self.settings.transcript_max_bytes,
            files=self.settings.transcript_files,
        )
        self.alerts = AlertWatch(self.settings.alerts + target.alerts)
        self.on_alert: Callable[[Session, Alert], None] | None = None
        self.on_state: Callable[[Session], None] | None = None
        """Called after the line's state changed (the Hub keeps the write lock to live lines)."""
        self._claim = LineClaim(target)
        self._line = asyncio.Lock()
        self._connected = asyncio.Event()
        self._attempted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reply_tasks: set[asyncio.Task[None]] = set()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"session {self.target.name}"
            )

    async def wait_ready(self, timeout: float = 8.0) -> None:
        """Wait for the first connection; raise UnreachableError with the last error if it fails."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._attempted.wait()
                if self.state is not SessionState.CONNECTED:
                    await asyncio.wait_for(self._connected.wait(), max(0.0, timeout / 4))
        if self.state is not SessionState.CONNECTED:
            if self.last_error:
                raise UnreachableError(self.last_error, where=self.target.name)
            raise UnreachableError(
                f"no connection within {timeout:.0f} s",
                where=f"{self.target.name} ({self.target.console})",
                fix="check that the VM or console server is up and listening",
            )

    def _new_backing(self) -> Backing:
        return make_backing(self.target.console, baud=self.target.baud)

    async def _stop_reading(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def close(self) -> None:
        await self._stop_reading()
        for task in list(self._reply_tasks):
            task.cancel()
        if self.backing is not None:
            await self.backing.close()
        self._claim.release()
        self._set_state(SessionState.CLOSED)
        for viewer in list(self.viewers.values()):
            viewer.deliver(Event(EventKind.DETACHED, text="the session was closed"))
        self.viewers.clear()
        self.transcript.close()

    async def reconnect(self) -> None:
        """Drop the line and connect again now, without waiting out the backoff."""
        await self._stop_reading()
        if self.backing is not None:
            with contextlib.suppress(Exception):
                await self.backing.close()
        self.transcript.mark("reconnecting on request")
        self._connected.clear()
        self._attempted.clear()
        self._set_state(SessionState.RECONNECTING)
        self.backing = self._new_backing()
        self.start()

    async def _run(self) -> None:
        backoff = BACKOFF_FIRST
        while holder := self._claim.take():
            self.last_error = f"in use by {holder} on this machine; waiting for it to let go"
            if self.state is not SessionState.WAITING:
                self._set_state(SessionState.WAITING)
                self.broadcast(Event(EventKind.NOTICE, text=self.last_error))
            self._attempted.set()
            await asyncio.sleep(CLAIM_POLL)
        while True:
            assert self.backing is not None
            try:
                await self.backing.open()
            except (UnreachableError, OSError) as exc:
                self.last_error = str(exc)
                self._set_state(SessionState.UNREACHABLE)
                self._attempted.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                self.backing = self._new_backing()
                continue
            backoff = BACKOFF_FIRST
            self.connects += 1
            self.last_error = ""
            self.transcript.mark("connected" if self.connects == 1 else "reconnected")
            self._set_state(SessionState.CONNECTED)
            self._connected.set()
            self._attempted.set()
            try:
                while True:
                    self._output(await self.backing.read())
            except BackingClosed as exc:
                self.last_error = str(exc) or "the far end closed the connection"
            finally:
                self._connected.clear()
                with contextlib.suppress(Exception):
                    await self.backing.close()
            self.transcript.mark(f"disconnected: {self.last_error}")
            self._set_state(SessionState.RECONNECTING)
            await asyncio.sleep(BACKOFF_FIRST)
            self.backing = self._new_backing()

    # -- console output ---------------------------------------------------------------------

    def _output(self, data: bytes) -> None:
        self.transcript.write(data)
        self.screen.feed(data)
        for alert in self.alerts.feed(data):
            if self.on_alert is not None:
                self.on_alert(self, alert)
        event = Event(EventKind.OUTPUT, data)
        snapshot: bytes | None = None
        for viewer in self.viewers.values():
            if viewer.queue.full() and snapshot is None:
                snapshot = self.screen.snapshot()
            viewer.deliver(event, snapshot)

    def _reply(self, data: bytes) -> None:
        """The screen model answers the guest (cursor position, device attributes)."""
        task = asyncio.get_running_loop().create_task(self._write_reply(data))
        self._reply_tasks.add(task)
        task.add_done_callback(self._reply_tasks.discard)

    async def _write_reply(self, data: bytes) -> None:
        with contextlib.suppress(BackingClosed, ConsoleError, OSError):
            await self.write(data)

    def _set_state(self, state: SessionState) -> None:
        """Tell every viewer the line's new state, and why it is down when it is."""
        if state is not self.state or self._told_error != self.last_error:
            changed = state is not self.state
            self.state = state
            self._told_error = self.last_error
            if changed and self.on_state is not None:
                self.on_state(self)  # the write lock changes before the viewers hear the state
            self.broadcast(self.state_event())

    def state_event(self) -> Event:
        return Event(EventKind.STATE, text=self.state.value, detail=self.last_error)

    def broadcast(self, event: Event) -> None:
        for viewer in self.viewers.values():
            viewer.deliver(event)

    # -- viewers ----------------------------------------------------------------------------

    def add_viewer(self, viewer: Viewer) -> None:
        self.viewers[viewer.id] = viewer
        # A late joiner sees what happened: the scrollback, then the current screen.
        viewer.deliver(Event(EventKind.SNAPSHOT, self.screen.snapshot(history=True)))
        viewer.deliver(self.state_event())
        viewer.deliver(
            Event(EventKind.LOCK, text=self.lock_holder.label if self.lock_holder else "")
        )
        self.broadcast(Event(EventKind.VIEWERS, text=self.viewer_summary()))

    def remove_viewer(self, viewer: Viewer) -> None:
        self.viewers.pop(viewer.id, None)
        if self.lock_holder is viewer:
            self.set_lock(None)
        self.broadcast(Event(EventKind.VIEWERS, text=self.viewer_summary()))

    def set_lock(self, viewer: Viewer | None) -> None:
        self.lock_holder = viewer
        self.broadcast(Event(EventKind.LOCK, text=viewer.label if viewer else ""))

    def viewer_summary(self) -> str:
        return ", ".join(
            f"{v.label} ({v.role}{', writes' if v is self.lock_holder else ''})"
            for v in self.viewers.values()
        )

    # -- the line ---------------------------------------------------------------------------

    def check_line(self) -> None:
        """Raise UnreachableError, with why and what to do, unless the line is connected."""
        if self.state is not SessionState.CONNECTED or self.backing is None:
            raise UnreachableError(
                f"console is {self.state.value}",
                where=f"{self.target.name} ({self.target.console})",
                fix=self.last_error or "wait for it to reconnect",
            )

    def _live_backing(self) -> Backing:
        self.check_line()
        assert self.backing is not None
        return self.backing

    @property
    def can_break(self) -> bool:
        return self.backing is not None and self.backing.can_break

    @property
    def break_reason(self) -> str:
        return "" if self.backing is None else self.backing.break_reason

    async def write(self, data: bytes, *, pace_baud: int = 0) -> None:
        """Send bytes to the console; with pace_baud, no faster than that line rate (for pastes)."""
        async with self._line:
            backing = self._live_backing()
            if not pace_baud:
                await backing.write(data)
                return
            chunk = max(1, pace_baud // 10 // 20)
            for start in range(0, len(data), chunk):
                piece = data[start : start + chunk]
                await backing.write(piece)
                await asyncio.sleep(len(piece) * 10 / pace_baud)

    async def send_break(self) -> None:
        async with self._line:
            await self._live_backing().send_break()

    async def run_steps(self, steps: list[Step]) -> None:
        """Run a key plan (BREAK, bytes, pauses) as one unit: nothing interleaves with it."""
        async with self._line:
            backing = self._live_backing()
            for step in steps:
                if step.kind == "break":
                    await backing.send_break()
                elif step.kind == "send":
                    await backing.write(step.data)
                elif step.kind == "sleep":
                    await asyncio.sleep(step.seconds)

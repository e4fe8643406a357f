"""A Session is one live console: its backing, reconnects, screen model, transcript, recording and
viewers.

The Session reads the console, feeds every byte to its screen model (which answers the guest's
cursor-position and device-attribute questions) and to the transcript (which hands it on to the
timed recording), and fans output out to its viewers through bounded queues: a slow viewer loses
frames and gets a fresh snapshot, it never holds up the console or the transcript.

Past 400 lines: connecting, backoff, reading and writing share one line and one state, and the
waits on them (wait_ready, the write backlog) only make sense beside them.
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
from console_tui.core.backings import (
    Awaited,
    Backing,
    BackingClosed,
    make_backing,
    parse_console_uri,
)
from console_tui.core.backings.comport import SettableLine
from console_tui.core.config import Settings, Target
from console_tui.core.errors import ConsoleError, NotPermittedError, UnreachableError, in_mib
from console_tui.core.keys import Step
from console_tui.core.paths import private_dir, runtime_dir
from console_tui.core.recording import Recording, recording_path
from console_tui.core.screen import Screen, make_screen
from console_tui.core.transcript import Transcript, transcript_path

BACKOFF_FIRST = 0.25
BACKOFF_MAX = 5.0
CLAIM_POLL = 0.5
UNWATCHED_GATHER = 0.5
"""While no viewer is attached, a busy line is read at most this often (capture costs per read,
and nobody waits for the echo); a viewer who attaches meanwhile ends the wait."""
UNWATCHED_MIN = 256
UNWATCHED_FULL = 4096
WRITE_BACKLOG = 4 << 20
"""Bytes of input a session holds for its line at most: accepted and not yet taken by the line.
More is refused, so a console that stops reading cannot make the server hold a paste of any size."""
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
        self.line_baud = 0
        """The baud rate an operator set on this line (0: the target's), kept across reconnects."""
        self.backing: Backing | None = self._new_backing()
        self.screen: Screen = make_screen(
            columns, rows, scrollback_lines=self.settings.scrollback_lines, on_reply=self._reply
        )
        self.transcript_path = transcript_path(target.name)
        self.recording = Recording(
            recording_path(target.name), columns=columns, rows=rows, title=target.name
        )
        self.transcript = Transcript(
            self.transcript_path,
            max_bytes=self.settings.transcript_max_bytes,
            files=self.settings.transcript_files,
            follower=self.recording,
        )
        self.alerts = AlertWatch(self.settings.alerts + target.alerts)
        self.on_alert: Callable[[Session, Alert], None] | None = None
        self.listeners: set[Callable[[bytes], None]] = set()
        """Called with each piece of console output (the boot menu watch reads the boot this way)."""
        self.on_state: Callable[[Session], None] | None = None
        """Called after the line's state changed (the Hub keeps the write lock to live lines)."""
        self._claim = LineClaim(target)
        self._line = asyncio.Lock()
        self._backlog = 0
        self._attempts_started = 0
        self._attempt_finished = 0
        """The number of the last connection attempt that finished (attempts are numbered)."""
        self._progress = asyncio.Condition()
        self._retry = asyncio.Event()
        self._watched = asyncio.Event()
        """Set while a viewer is attached: ends the wait that gathers an unwatched line's output."""
        self._task: asyncio.Task[None] | None = None
        self._reply_tasks: set[asyncio.Task[None]] = set()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"session {self.target.name}"
            )

    async def wait_ready(self, timeout: float = 8.0) -> None:
        """Wait until the line is connected, or until an attempt that started after this call
        failed: then raise UnreachableError with that attempt's error, never an older one.

        A session waiting out its reconnect backoff tries again at once, so a console that just
        came back is attached now, not after the backoff."""
        if self.state is SessionState.CONNECTED:
            return
        first_new = self._attempts_started + 1
        self._retry.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._progress:
                await self._progress.wait_for(
                    lambda: (
                        self.state in (SessionState.CONNECTED, SessionState.CLOSED)
                        or self._attempt_finished >= first_new
                    )
                )
        if self.state is not SessionState.CONNECTED:
            if self.last_error:
                raise UnreachableError(self.last_error, where=self.target.name)
            raise UnreachableError(
                f"no connection within {timeout:.0f} s",
                where=f"{self.target.name} ({self.target.console})",
                fix="check that the VM or console server is up and listening",
            )

    def _new_backing(self) -> Backing:
        backing = make_backing(
            self.target.console, baud=self.target.baud, password=self.target.password()
        )
        if self.line_baud and isinstance(backing, SettableLine):
            backing.baud = self.line_baud
        return backing

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
            # A line we listen on stops listening now (`shut`); a plain close would linger.
            await getattr(self.backing, "shut", self.backing.close)()
        self._claim.release()
        self._set_state(SessionState.CLOSED)
        async with self._progress:
            self._progress.notify_all()
        for viewer in list(self.viewers.values()):
            viewer.deliver(Event(EventKind.DETACHED, text="the session was closed"))
        self.viewers.clear()
        self.transcript.close()
        self.recording.close()

    async def reconnect(self, who: str = "") -> None:
        """Drop the line and connect again now, without waiting out the backoff."""
        await self._stop_reading()
        if self.backing is not None:
            with contextlib.suppress(Exception):
                await self.backing.close()
        self.mark(f"reconnecting on request of {who}" if who else "reconnecting on request")
        self._set_state(SessionState.RECONNECTING)
        self.backing = self._new_backing()
        self.start()

    async def _run(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            self._attempts_started += 1
            attempt = self._attempts_started
            holder = self._claim.take()
            if holder:
                self.last_error = f"in use by {holder} on this machine; waiting for it to let go"
                if self.state is not SessionState.WAITING:
                    self._set_state(SessionState.WAITING)
                    self.broadcast(Event(EventKind.NOTICE, text=self.last_error))
                await self._finished(attempt)
                await self._pause(CLAIM_POLL)
                continue
            assert self.backing is not None
            if isinstance(self.backing, Awaited):
                await self._await_far_end(self.backing, attempt)
            elif waiting := getattr(self.backing, "waiting_words", ""):
                # we listen and the far end connects: say so while it has not
                self.last_error = waiting
                self._set_state(SessionState.WAITING)
            try:
                await self.backing.open()
            except (ConsoleError, OSError) as exc:  # a refused login too: told, then retried
                self.last_error = str(exc)
                self._set_state(SessionState.UNREACHABLE)
                await self._finished(attempt)
                await self._pause(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                self.backing = self._new_backing()
                continue
            backoff = BACKOFF_FIRST
            self.connects += 1
            self.last_error = ""
            self.mark("connected" if self.connects == 1 else "reconnected")
            self._set_state(SessionState.CONNECTED)
            await self._finished(attempt)
            try:
                while True:
                    data = await self.backing.read()
                    self._output(data)
                    if not self.viewers and UNWATCHED_MIN <= len(data) < UNWATCHED_FULL:
                        # Nobody watches: let a busy line's output gather into fewer, larger
                        # reads (a full read means more is waiting: go on at once).
                        await self._gather()
            except BackingClosed as exc:
                self.last_error = str(exc) or "the far end closed the connection"
            finally:
                with contextlib.suppress(Exception):
                    await self.backing.close()
            self.mark(f"disconnected: {self.last_error}")
            self._set_state(SessionState.RECONNECTING)
            await self._pause(BACKOFF_FIRST)
            self.backing = self._new_backing()

    async def _await_far_end(self, backing: Awaited, attempt: int) -> None:
        """A line the VM opens: let it mark its events, and say the session waits for the VM
        unless it is there already."""
        backing.on_mark = self.mark
        if backing.waiting:
            self.last_error = backing.waiting
            self._set_state(SessionState.WAITING)
            await self._finished(attempt)

    async def _gather(self) -> None:
        """Wait for an unwatched line's output to gather, in the kernel where the backing can
        leave it there (`gather`), until a viewer attaches at the latest."""
        gather = getattr(self.backing, "gather", None)
        if gather is not None:
            await gather(UNWATCHED_GATHER, self._watched)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(UNWATCHED_GATHER):
                await self._watched.wait()

    async def _finished(self, attempt: int) -> None:
        """Connection attempt number `attempt` is over (connected or not): wake wait_ready."""
        async with self._progress:
            self._attempt_finished = attempt
            self._progress.notify_all()

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds` before the next attempt, or less when wait_ready asks for one now."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._retry.wait()
        self._retry.clear()

    # -- console output ---------------------------------------------------------------------

    def _output(self, data: bytes) -> None:
        self.transcript.write(data)
        self.screen.feed(data)
        for listener in tuple(self.listeners):
            listener(data)
        for alert in self.alerts.feed(data):
            if self.on_alert is not None:
                self.on_alert(self, alert)
        event = Event(EventKind.OUTPUT, data)
        snapshot: bytes | None = None
        for viewer in self.viewers.values():
            if viewer.queue.full() and snapshot is None:
                snapshot = self.screen.snapshot()
            viewer.deliver(event, snapshot)

    def mark(self, text: str) -> None:
        """Note who did what, and when: a line of our own in the transcript and a marker in the
        recording (BREAK, SysRq, NMI, reset, reconnects, attach, detach, the write lock, alerts)."""
        text = "".join(c if c.isprintable() else "?" for c in text)
        self.recording.mark(text)
        self.transcript.mark(text)

    def resize(self, columns: int, rows: int) -> None:
        """Change the screen model's size; the recording notes it, so playback follows."""
        self.screen.resize(columns, rows)
        self.recording.resize(*self.screen.size)

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
        self._watched.set()
        # A late joiner sees what happened: the scrollback, then the current screen.
        viewer.deliver(Event(EventKind.SNAPSHOT, self.screen.snapshot(history=True)))
        viewer.deliver(self.state_event())
        viewer.deliver(
            Event(EventKind.LOCK, text=self.lock_holder.label if self.lock_holder else "")
        )
        self.broadcast(Event(EventKind.VIEWERS, text=self.viewer_summary()))

    def remove_viewer(self, viewer: Viewer) -> None:
        self.viewers.pop(viewer.id, None)
        if not self.viewers:
            self._watched.clear()
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
        """Send bytes to the console; with pace_baud, no faster than that line rate (for pastes).

        Writes wait their turn for the line. Bytes that would put more than `WRITE_BACKLOG` in
        wait are refused whole (NotPermittedError): none of them is sent, and what was accepted
        before is still sent, in order."""
        self._hold_input(len(data))
        try:
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
        finally:
            self._backlog -= len(data)

    def _hold_input(self, size: int) -> None:
        """Count `size` more bytes waiting for the line, or refuse them if that is too many."""
        if self._backlog + size <= WRITE_BACKLOG:
            self._backlog += size
            return
        where = f"{self.target.name} ({self.target.console})"
        if size > WRITE_BACKLOG:
            raise NotPermittedError(
                f"{in_mib(size)} at once is more than a console takes ({in_mib(WRITE_BACKLOG)}); "
                "none of it was sent",
                where=where,
                fix="send it in smaller parts",
            )
        raise NotPermittedError(
            f"the console is not taking input: {in_mib(self._backlog)} still waits for the line, "
            f"so these {in_mib(size)} were not sent",
            where=where,
            fix="wait for the console to read what waits (is the guest hung or its line "
            "stopped?), or reconnect it",
        )

    async def send_break(self) -> None:
        async with self._line:
            await self._live_backing().send_break()

    async def _echoed(self, backing: Backing, step: Step, quiet: float = 0.04) -> None:
        """Send `step.data`, then wait (up to `step.seconds`) until the console answers and falls
        quiet: a boot loader that redraws after each key gets the next one only when done."""
        answered = asyncio.Event()

        def heard(_data: bytes) -> None:
            answered.set()

        self.listeners.add(heard)
        try:
            await backing.write(step.data)
            deadline = asyncio.get_running_loop().time() + step.seconds
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await answered.wait()
                    while True:
                        answered.clear()
                        await asyncio.wait_for(answered.wait(), quiet)
        finally:
            self.listeners.discard(heard)

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
                elif step.kind == "echo":
                    await self._echoed(backing, step)

"""The client side of the hub wire: `RemoteHub`, the Hub API of a running `console-tui serve`.

Its calls are the ones declared in `HubOps`; what it knows without asking (targets, statuses,
capabilities) comes from the welcome and from the target list and status the service pushes when
they change.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from console_tui.core.api import Capability, Event, EventKind, Role, TargetStatus, Viewer
from console_tui.core.config import Config, Settings, Target
from console_tui.core.errors import UnreachableError
from console_tui.core.hubwire.framing import (
    HANDSHAKE_TIMEOUT,
    LINE_LIMIT,
    encode,
    raise_error,
    unb64,
)
from console_tui.core.hubwire.ops import HubOps, Op


def _target(raw: dict[str, Any]) -> Target:
    """A target as the service sent it; fields this version does not know are left out."""
    known = {f.name for f in fields(Target)}
    return Target(**{k: v for k, v in raw.items() if k in known})


@dataclass(eq=False)
class RemoteViewer(Viewer):
    """An attachment made through a RemoteHub: a Viewer whose events come over the socket."""

    on_overflow: Callable[[RemoteViewer], None] | None = None

    def deliver(self, event: Event, snapshot: bytes | None = None) -> None:
        """As a Viewer's; when the app falls behind, the server is asked for a fresh snapshot."""
        dropped = self.dropped
        super().deliver(event, snapshot)
        if self.dropped != dropped and self.on_overflow is not None:
            self.on_overflow(self)


class RemoteHub(HubOps):
    """The Hub API for an app process, spoken over the hub socket of `console-tui serve`."""

    def __init__(self, sock: socket.socket, welcome: dict[str, Any]) -> None:
        self._sock: socket.socket | None = sock
        self.who: str = welcome["who"]
        self.role = Role(welcome["role"])
        self.source: str = welcome["source"]
        known = {f.name for f in fields(Settings)}
        settings = {k: v for k, v in welcome["settings"].items() if k in known}
        targets = tuple(_target(t) for t in welcome["targets"])
        self.config = Config(path=None, settings=Settings(**settings), targets=targets)
        self._statuses = {s["name"]: TargetStatus.from_dict(s) for s in welcome.get("status", [])}
        self._viewers: dict[int, RemoteViewer] = {}
        self._pending: dict[int, tuple[asyncio.Future[Any], Op[..., Any] | None]] = {}
        self._ids = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._started: asyncio.Lock | None = None
        self.closed = False

    @classmethod
    def dial(
        cls, path: str | os.PathLike[str], token: str, *, timeout: float = HANDSHAKE_TIMEOUT
    ) -> RemoteHub:
        """Connect and prove who we are, before any event loop runs (the app starts its own).

        With no token, ask to be the local admin (granted only to the server's own Unix user)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        hello: dict[str, Any] = (
            {"op": "hello", "token": token} if token else {"op": "hello", "local": True}
        )
        try:
            sock.connect(os.fspath(path))
            sock.sendall(encode(hello))
            buffer = b""
            while not buffer.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
        except OSError as exc:
            sock.close()
            raise UnreachableError(
                f"cannot reach the hub: {exc}",
                where=os.fspath(path),
                fix="is `console-tui serve` running?",
            ) from None
        try:
            answer = json.loads(buffer or b"{}")
        except ValueError:
            answer = {}
        if "welcome" not in answer:
            sock.close()
            raise_error(
                answer.get("error") or {"type": "UnreachableError", "what": "the hub closed"}
            )
        sock.settimeout(None)
        sock.setblocking(False)
        return cls(sock, answer["welcome"])

    @classmethod
    async def connect(cls, path: str | os.PathLike[str], token: str) -> RemoteHub:
        hub = await asyncio.to_thread(cls.dial, path, token)
        await hub._ensure()
        return hub

    # -- plumbing --------------------------------------------------------------------------

    async def _ensure(self) -> asyncio.StreamWriter:
        if self._writer is not None:
            return self._writer
        if self._started is None:
            self._started = asyncio.Lock()
        async with self._started:
            if self._writer is None:
                if self._sock is None:
                    raise UnreachableError("the hub connection is closed", where="hub")
                self._reader, self._writer = await asyncio.open_unix_connection(
                    sock=self._sock, limit=LINE_LIMIT
                )
                self._sock = None
                self._reader_task = asyncio.get_running_loop().create_task(self._read())
                self._writer.write(encode({"op": "watch"}))
        assert self._writer is not None
        return self._writer

    async def call_op(self, op: Op[..., Any], args: dict[str, Any]) -> Any:
        """Send one call and wait for its answer. The answer is decoded as soon as it is read,
        before any later message is handled, so a new viewer exists before its first event."""
        if self.closed and op.lenient:
            return None
        return await self._request(op.name, args, op)

    async def _request(self, name: str, args: dict[str, Any], op: Op[..., Any] | None) -> Any:
        if self.closed:
            raise UnreachableError("the hub connection is closed", where="hub", fix="reconnect")
        writer = await self._ensure()
        self._ids += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._ids] = (future, op)
        writer.write(encode({"id": self._ids, "op": name, "args": args}))
        await writer.drain()
        return await future

    async def _read(self) -> None:
        assert self._reader is not None
        try:
            while line := await self._reader.readline():
                self._dispatch(json.loads(line))
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            self._lost()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "event" in message:
            viewer = self._viewers.get(message["event"])
            if viewer is None:
                return
            kind = EventKind(message.get("kind", ""))
            text, detail = message.get("text", ""), message.get("detail", "")
            if kind == EventKind.STATE:
                self._saw_state(viewer.target, text, detail)
            viewer.deliver(Event(kind, unb64(message.get("data", "")), text, detail))
            if kind == EventKind.DETACHED:
                self._viewers.pop(viewer.id, None)
        elif "targets" in message:
            targets = tuple(_target(t) for t in message["targets"])
            self.config = dataclasses.replace(self.config, targets=targets)
        elif "status" in message:
            self._statuses = {s["name"]: TargetStatus.from_dict(s) for s in message["status"]}
        elif "id" in message:
            future, op = self._pending.pop(message["id"], (None, None))
            if future is None or future.done():
                return
            try:
                if "error" in message:
                    raise_error(message["error"])
                result = message.get("result")
                future.set_result(op.decode_result(result, self) if op else result)
            except Exception as exc:
                future.set_exception(exc)

    def _saw_state(self, name: str, state: str, detail: str) -> None:
        """A line's state as its events tell it, at once: the pushed statuses come up to a second
        later, and the inventory and status line must not show the state before."""
        status = self._statuses.get(name)
        if status is not None:
            self._statuses[name] = dataclasses.replace(status, state=state, detail=detail)

    def viewer(self, raw: dict[str, Any]) -> Viewer:
        """A handle for a viewer the service just attached for us."""
        viewer = RemoteViewer(
            target=str(raw["target"]),
            who=str(raw["who"]),
            role=Role(raw["role"]),
            source=str(raw["source"]),
            id=int(raw["id"]),
            last_input=time.monotonic(),
            on_overflow=self._ask_snapshot,
        )
        self._viewers[viewer.id] = viewer
        return viewer

    def _lost(self) -> None:
        self.closed = True
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(UnreachableError("the hub went away", where="hub"))
        self._pending.clear()
        for viewer in self._viewers.values():
            viewer.deliver(
                Event(EventKind.DETACHED, text="the connection to the server's hub was lost")
            )
        self._viewers.clear()

    def _ask_snapshot(self, viewer: RemoteViewer) -> None:
        task = asyncio.get_running_loop().create_task(self.snapshot(viewer))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    # -- what is known without asking --------------------------------------------------------

    def targets(self) -> tuple[Target, ...]:
        return self.config.targets

    def target(self, name: str) -> Target:
        return self.config.target(name)

    def status(self, name: str) -> TargetStatus:
        target = self.target(name)
        status = self._statuses.get(name)
        if status is None:
            return TargetStatus(
                name=name,
                group=target.group,
                source=target.source,
                backing=target.console.split(":", 1)[0],
                console=target.console,
                control=target.control,
                state="closed",
            )
        return status

    def can_break(self, name: str) -> Capability:
        return self.status(name).can_break

    def can_control(self, name: str) -> Capability:
        return self.status(name).can_control

    def can_sysrq(self, name: str) -> Capability:
        return self.status(name).can_sysrq

    def can_write(self, name: str) -> Capability:
        return self.status(name).can_write

    async def refresh(self) -> None:
        """Fetch every visible target's status now (it is also pushed when it changes)."""
        raw = await self._request("statuses", {}, None)
        self._statuses = {s["name"]: TargetStatus.from_dict(s) for s in raw}

    # -- end -------------------------------------------------------------------------------

    def close_now(self) -> None:
        """Close a hub that was dialled but never used by an event loop."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.closed = True

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.closed = True

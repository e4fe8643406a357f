"""The server side of the hub wire: one Hub served on a unix socket to app processes.

`HubService` runs next to the Hub in the server process. An app process connects with a one-time
token that the server handed it (through an inherited pipe, never the command line or environment);
the token names the SSH user it acts for, so the identity, role, target groups and source address of
every call are the server's, whatever the app process asks for.

A process of the server's own Unix user (`console-tui attach`, `send`, `list` or the app run on the
server machine) may connect without a token: the kernel vouches for its uid (SO_PEERCRED), and it
acts as the local admin, as it could by opening the consoles itself. So a console line is opened
once, by the server, however it is reached.

Whatever a connection sends is bounded: every line gets an answer (an error for garbage), calls on
console lines wait in a queue of at most `ORDERED_BACKLOG` bytes, and other calls run at most
`CONCURRENT_CALLS` at a time. (The file runs past 400 lines: the connection's intake and dispatch
are one piece, read together.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import struct
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from console_tui.core.api import Event, EventKind, Role, Viewer
from console_tui.core.config import Target, User
from console_tui.core.discovery import SCAN_INTERVAL
from console_tui.core.errors import ConsoleError, NotPermittedError, UnreachableError, in_mib
from console_tui.core.hub import Hub
from console_tui.core.hubwire.framing import (
    HANDSHAKE_TIMEOUT,
    LINE_LIMIT,
    b64,
    encode,
    error_dict,
)
from console_tui.core.hubwire.ops import OPS, HubOps, Op
from console_tui.core.paths import local_user

TOKEN_LIFETIME = 60.0
STATUS_INTERVAL = 1.0
ORDERED_BACKLOG = 8 << 20
"""Bytes of calls on console lines (keystrokes, pastes) one connection may have waiting; a call
past that is refused at once, so a console that stops reading cannot make the server queue more."""
CONCURRENT_CALLS = 16
"""Other calls one connection may have running at once; past that its requests wait unread."""


@dataclass(frozen=True)
class Principal:
    """Who an app process acts for: the user and where they connected from."""

    user: User
    source: str


class HubService:
    """Serves one Hub on a unix socket (0600 in a 0700 folder) to app processes holding a token."""

    def __init__(self, hub: Hub, path: Path) -> None:
        self.hub = hub
        self.path = path
        self._tokens: dict[str, tuple[Principal, float]] = {}
        self._clients: set[_Client] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path.parent, 0o700)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._connected, path=str(self.path), limit=LINE_LIMIT
            )
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        return self.path

    def issue_token(self, principal: Principal) -> str:
        """A one-time token naming `principal`; the first connection to present it gets it."""
        now = time.monotonic()
        for token, (_, expires) in list(self._tokens.items()):
            if expires < now:
                del self._tokens[token]
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (principal, now + TOKEN_LIFETIME)
        return token

    def revoke(self, token: str) -> None:
        self._tokens.pop(token, None)

    def touch(self, principal: Principal) -> None:
        """Input arrived on this principal's SSH channel: it is not idle."""
        now = time.monotonic()
        for client in self._clients:
            if client.principal is principal:
                for viewer in client.viewers.values():
                    viewer.last_input = now

    def last_writer(self, principal: Principal) -> Viewer | None:
        """The viewer `principal` typed on last (for an SSH break request while in the app)."""
        viewers = [v for c in self._clients if c.principal is principal for v in c.viewers.values()]
        return max(viewers, key=lambda v: v.last_input, default=None)

    async def disconnect(self, principal: Principal) -> None:
        """End every connection acting for `principal` (its SSH channel closed)."""
        for client in [c for c in self._clients if c.principal is principal]:
            await client.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for client in list(self._clients):
            await client.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                hello = json.loads(await reader.readline() or b"{}")
        except (TimeoutError, ValueError, ConnectionError):
            writer.close()
            return
        token = hello.get("token", "") if isinstance(hello, dict) else ""
        entry = self._tokens.pop(token, None) if isinstance(token, str) else None
        if entry is None and isinstance(hello, dict) and hello.get("local") is True:
            local = _local_principal(writer)
            entry = (local, time.monotonic() + TOKEN_LIFETIME) if local else None
        if entry is None or entry[1] < time.monotonic():
            writer.write(
                encode({"error": error_dict(NotPermittedError("unknown or used hub token"))})
            )
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return
        client = _Client(self, entry[0], reader, writer)
        self._clients.add(client)
        try:
            await client.run()
        finally:
            self._clients.discard(client)


def _request_error(why: str) -> ValueError:
    return ValueError(
        f"bad hub request ({why}): each line must be one JSON object "
        '{"id": N, "op": NAME, "args": {...}}'
    )


def _local_principal(writer: asyncio.StreamWriter) -> Principal | None:
    """The local admin, if the peer process runs as this server's own Unix user."""
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    if uid != os.getuid():
        return None
    return Principal(User(name=local_user(), role=Role.ADMIN, groups=("*",)), source="local")


def running_hubs(folder: Path) -> list[Path]:
    """The hub sockets of live `console-tui serve` processes of this user, newest first."""
    found = []
    for path in folder.glob("hub-*.sock"):
        pid = path.stem.removeprefix("hub-")
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass
        found.append(path)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


class _Client:
    """One app process's connection: its principal, its viewers, and the calls it sends."""

    def __init__(
        self,
        service: HubService,
        principal: Principal,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.service = service
        self.hub = service.hub
        self.principal = principal
        self.reader = reader
        self.writer = writer
        self.viewers: dict[int, Viewer] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._forwarders: dict[int, asyncio.Task[None]] = {}
        self._ordered: asyncio.Queue[tuple[dict[str, Any], int]] = asyncio.Queue()
        self._ordered_bytes = 0
        self._slots = asyncio.Semaphore(CONCURRENT_CALLS)
        self._watching: asyncio.Future[None] | None = None
        self._send_lock = asyncio.Lock()
        self._last_status: list[dict[str, Any]] = []
        self._last_targets: list[dict[str, Any]] = []
        self._closed = False

    @property
    def user(self) -> User:
        return self.principal.user

    def visible(self) -> tuple[Target, ...]:
        return self.hub.visible_targets(self.user)

    # -- what decoding asks of this side ---------------------------------------------------

    def viewer(self, raw: dict[str, Any]) -> Viewer:
        """This connection's own viewer of that id; another's cannot be named."""
        ident = raw.get("id")
        viewer = self.viewers.get(ident) if type(ident) is int else None
        if viewer is None:
            raise UnreachableError("not attached", where="hub", fix="attach to the target first")
        return viewer

    def _check_target(self, name: object) -> str:
        if not isinstance(name, str) or not self.hub.may_see(self.user, name):
            raise NotPermittedError(
                f"no target named {name!r} for {self.user.name}",
                where="hub",
                fix="targets you may open are in the list; an admin can add you to its group",
            )
        return name

    # -- the connection --------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            self.writer.write(encode(message))
            await self.writer.drain()

    async def run(self) -> None:
        self._last_targets = self._target_list()
        welcome = {
            "who": self.user.name,
            "role": str(self.user.role),
            "source": self.principal.source,
            "settings": asdict(self.hub.config.settings),
            "targets": self._last_targets,
            "status": self._statuses(),
        }
        try:
            await self.send({"welcome": welcome})
            self._spawn(self._run_ordered())
            while True:
                try:
                    line = await self.reader.readline()
                except ValueError:  # past LINE_LIMIT: what follows cannot be framed
                    await self._refuse(None, _request_error(f"longer than {LINE_LIMIT} bytes"))
                    break
                if not line:
                    break
                await self._take(line)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            await self.close()

    async def _take(self, line: bytes) -> None:
        """Start answering one request line; whatever it holds, it gets an answer."""
        try:
            request = json.loads(line)
        except (ValueError, RecursionError):
            request = None
        if not isinstance(request, dict):
            await self._refuse(None, _request_error("not a JSON object"))
            return
        name = request.get("op")
        if name == "watch":
            if self._watching is None:
                self._watching = self._spawn(self._push_status_loop())
        elif isinstance(name, str) and name in OPS and OPS[name].ordered:
            if self._ordered_bytes and self._ordered_bytes + len(line) > ORDERED_BACKLOG:
                await self._refuse(
                    request.get("id"),
                    NotPermittedError(
                        f"the console is not taking input: {in_mib(self._ordered_bytes)} of "
                        "calls already wait for it, so this one was not sent",
                        where="hub",
                        fix="wait for the console to read what waits, or reconnect it",
                    ),
                )
                return
            self._ordered_bytes += len(line)
            self._ordered.put_nowait((request, len(line)))
        else:
            await self._slots.acquire()
            answer = self._answer_statuses if name == "statuses" else self._answer
            self._spawn(answer(request)).add_done_callback(lambda _: self._slots.release())

    async def _refuse(self, request_id: Any, exc: Exception) -> None:
        with contextlib.suppress(ConnectionError):
            await self.send({"id": request_id, "error": error_dict(exc)})

    def _spawn(self, coro: Awaitable[None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run_ordered(self) -> None:
        while True:
            request, size = await self._ordered.get()
            try:
                await self._answer(request)
            finally:
                self._ordered_bytes -= size

    async def _answer(self, request: dict[str, Any]) -> None:
        name = request.get("op", "")
        op = OPS.get(name) if isinstance(name, str) else None
        try:
            if op is None:
                raise ConsoleError(f"unknown hub operation {name!r}")
            result = await self._call(op, request.get("args") or {})
            reply: dict[str, Any] = {"id": request.get("id"), "result": op.encode_result(result)}
        except Exception as exc:
            reply = {"id": request.get("id"), "error": error_dict(exc)}
        with contextlib.suppress(ConnectionError):
            await self._push_targets()
            await self.send(reply)
        self._start_forwarders()
        if op is None or not op.quiet:
            await self._push_status()

    async def _call(self, op: Op[..., Any], raw: dict[str, Any]) -> Any:
        """Run one call on the Hub as this connection's principal."""
        if op is HubOps.detach:
            try:
                viewer = op.decode_args(raw, self)["viewer"]
            except UnreachableError:  # not attached (any more): detaching is moot
                return None
            self.viewers.pop(viewer.id, None)
            await self.hub.detach(viewer)
            viewer.deliver(Event(EventKind.DETACHED, text="detached"))
            return None
        args = op.decode_args(raw, self)
        if "name" in args:
            self._check_target(args["name"])
        if op is HubOps.attach:
            # Who and from where are the server's to say; a role can only be lowered.
            args.update(
                who=self.user.name,
                source=self.principal.source,
                role=args.get("role", self.user.role).at_most(self.user.role),
            )
        result = await getattr(self.hub, op.name)(**args)
        if isinstance(result, Viewer):
            self.viewers[result.id] = result
        return result

    # -- target list and status pushes -----------------------------------------------------

    def _target_list(self) -> list[dict[str, Any]]:
        return [asdict(t) for t in self.visible()]

    async def _push_targets(self) -> None:
        """The visible target list when it changed (discovery found or lost one), sent before
        the answer to the call that changed it, so the caller's list is current when it returns."""
        targets = self._target_list()
        if targets != self._last_targets:
            self._last_targets = targets
            await self.send({"targets": targets})

    def _statuses(self) -> list[dict[str, Any]]:
        return [self.hub.status(target.name).as_dict() for target in self.visible()]

    async def _answer_statuses(self, request: dict[str, Any]) -> None:
        self._last_status = self._statuses()
        with contextlib.suppress(ConnectionError):
            await self.send({"id": request.get("id"), "result": self._last_status})

    async def _push_status(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self._push_targets()
        statuses = self._statuses()
        if statuses != self._last_status:
            self._last_status = statuses
            with contextlib.suppress(ConnectionError):
                await self.send({"status": statuses})

    async def _push_status_loop(self) -> None:
        while True:
            await self.hub.refresh_targets(max_age=SCAN_INTERVAL)
            await self._push_status()
            await asyncio.sleep(STATUS_INTERVAL)

    # -- viewers ---------------------------------------------------------------------------

    def _start_forwarders(self) -> None:
        """Forward a new viewer's events only once its attach was answered, so they come after."""
        for viewer in self.viewers.values():
            if viewer.id not in self._forwarders:
                self._forwarders[viewer.id] = asyncio.ensure_future(self._forward(viewer))

    async def _forward(self, viewer: Viewer) -> None:
        """A viewer's events to the app process; a slow socket backs up into the viewer's bounded
        queue, which drops frames and restarts from a snapshot, never holding up the console."""
        async for event in viewer.events():
            message: dict[str, Any] = {"event": viewer.id, "kind": str(event.kind)}
            if event.data:
                message["data"] = b64(event.data)
            if event.text:
                message["text"] = event.text
            if event.detail:
                message["detail"] = event.detail
            await self.send(message)
        self.viewers.pop(viewer.id, None)

    # -- end -------------------------------------------------------------------------------

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for viewer in list(self.viewers.values()):
            with contextlib.suppress(Exception):
                await self.hub.detach(viewer)
            viewer.deliver(Event(EventKind.DETACHED, text="the app process went away"))
        self.viewers.clear()
        for task in [*self._tasks, *self._forwarders.values()]:
            if task is not asyncio.current_task():
                task.cancel()
        for task in [*self._tasks, *self._forwarders.values()]:
            if task is not asyncio.current_task():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()

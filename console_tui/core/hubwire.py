"""The Hub served over a local unix socket, so every SSH channel's app process shares one Hub.

`HubService` runs next to the Hub in the server process. An app process connects with a one-time
token that the server handed it (through an inherited pipe, never the command line or environment);
the token names the SSH user it acts for, so the identity, role, target groups and source address of
every call are the server's, whatever the app process asks for. `RemoteHub` is the client: the same
async API as `Hub`, with Viewer-like objects whose `events()` yield `Event`s.

A process of the server's own Unix user (`console-tui attach`, `send`, `list` or the app run on the
server machine) may connect without a token: the kernel vouches for its uid (SO_PEERCRED), and it
acts as the local admin, as it could by opening the consoles itself. So a console line is opened
once, by the server, however it is reached.

The wire is JSON lines. Requests `{"id", "op", "args"}` are answered by `{"id", "result"}` or
`{"id", "error"}`; the server also pushes `{"event": viewer_id, ...}` and `{"status": [...]}`.
Keystrokes and other line actions of one connection are run in the order they were sent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from console_tui.core import errors
from console_tui.core.config import Config, Settings, Target, User
from console_tui.core.errors import ConsoleError, NotPermittedError, UnreachableError
from console_tui.core.hub import Capability, Hub, TargetStatus
from console_tui.core.paths import local_user
from console_tui.core.session import ROLE_RANK, Event, Viewer

TOKEN_LIFETIME = 60.0
STATUS_INTERVAL = 1.0
LINE_LIMIT = 32 * 1024 * 1024
HANDSHAKE_TIMEOUT = 10.0

# Ops that act on a console line: run one at a time per connection, in the order they came.
LINE_OPS = frozenset({"write", "send_keys", "send_break", "sysrq", "sync_size", "resize"})


@dataclass(frozen=True)
class Principal:
    """Who an app process acts for: the SSH user and where they connected from."""

    user: User
    source: str


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii")) if text else b""


def _error_dict(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, ConsoleError):
        return {"type": type(exc).__name__, "what": exc.what, "where": exc.where, "fix": exc.fix}
    if isinstance(exc, ValueError):
        return {"type": "ValueError", "what": str(exc), "where": "", "fix": ""}
    return {"type": "ConsoleError", "what": f"hub error: {exc}", "where": "", "fix": ""}


def _raise_error(error: dict[str, str]) -> None:
    kind = error.get("type", "ConsoleError")
    if kind == "ValueError":
        raise ValueError(error.get("what", ""))
    cls = getattr(errors, kind, ConsoleError)
    if not (isinstance(cls, type) and issubclass(cls, ConsoleError)):
        cls = ConsoleError
    raise cls(error.get("what", ""), where=error.get("where", ""), fix=error.get("fix", ""))


def _lesser_role(asked: str, allowed: str) -> str:
    asked = asked if asked in ROLE_RANK else allowed
    return asked if ROLE_RANK[asked] <= ROLE_RANK[allowed] else allowed


# -- the server side ------------------------------------------------------------------------


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
                _encode({"error": _error_dict(NotPermittedError("unknown or used hub token"))})
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


def _local_principal(writer: asyncio.StreamWriter) -> Principal | None:
    """The local admin, if the peer process runs as this server's own Unix user."""
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    if uid != os.getuid():
        return None
    return Principal(User(name=local_user(), role="admin", groups=("*",)), source="local")


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
    """One app process's connection: its principal, its viewers, and the requests it sends."""

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
        self._line_ops: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._send_lock = asyncio.Lock()
        self._last_status: list[dict[str, Any]] = []
        self._closed = False

    @property
    def user(self) -> User:
        return self.principal.user

    def visible(self) -> tuple[Target, ...]:
        return self.hub.visible_targets(self.user)

    def _check_target(self, name: str) -> str:
        if not isinstance(name, str) or not self.hub.may_see(self.user, name):
            raise NotPermittedError(
                f"no target named {name!r} for {self.user.name}",
                where="hub",
                fix="targets you may open are in the list; an admin can add you to its group",
            )
        return name

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            self.writer.write(_encode(message))
            await self.writer.drain()

    async def run(self) -> None:
        welcome = {
            "who": self.user.name,
            "role": self.user.role,
            "source": self.principal.source,
            "settings": asdict(self.hub.config.settings),
            "targets": [asdict(t) for t in self.visible()],
        }
        try:
            await self.send({"welcome": welcome})
            self._spawn(self._run_line_ops())
            while line := await self.reader.readline():
                try:
                    request = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(request, dict):
                    continue
                if request.get("op") == "watch":
                    self._spawn(self._push_status_loop())
                elif request.get("op") in LINE_OPS:
                    self._line_ops.put_nowait(request)
                else:
                    self._spawn(self._answer(request))
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            await self.close()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_line_ops(self) -> None:
        while True:
            await self._answer(await self._line_ops.get())

    async def _answer(self, request: dict[str, Any]) -> None:
        op = request.get("op", "")
        handler: Callable[[dict[str, Any]], Awaitable[Any]] | None = getattr(self, f"op_{op}", None)
        try:
            if handler is None:
                raise ConsoleError(f"unknown hub operation {op!r}")
            args = request.get("args") or {}
            result = await handler(args)
            reply: dict[str, Any] = {"id": request.get("id"), "result": result}
        except Exception as exc:
            reply = {"id": request.get("id"), "error": _error_dict(exc)}
        with contextlib.suppress(ConnectionError):
            await self.send(reply)
        self._start_forwarders()
        if op not in ("write", "status", "probe", "power_state", "snapshot"):
            await self._push_status()

    # -- status pushes ---------------------------------------------------------------------

    def _statuses(self) -> list[dict[str, Any]]:
        out = []
        for target in self.visible():
            status = self.hub.status(target.name).as_dict()
            session = self.hub.session(target.name)
            can_break = self.hub.can_break(target.name)
            can_control = self.hub.can_control(target.name)
            status["can_break"] = [can_break.ok, can_break.reason]
            status["can_control"] = [can_control.ok, can_control.reason]
            status["summary"] = session.viewer_summary() if session else ""
            holder = session.lock_holder if session else None
            status["writer_id"] = holder.id if holder else 0
            out.append(status)
        return out

    async def _push_status(self) -> None:
        statuses = self._statuses()
        if statuses != self._last_status:
            self._last_status = statuses
            with contextlib.suppress(ConnectionError):
                await self.send({"status": statuses})

    async def _push_status_loop(self) -> None:
        while True:
            await self._push_status()
            await asyncio.sleep(STATUS_INTERVAL)

    # -- viewers ---------------------------------------------------------------------------

    def _viewer(self, args: dict[str, Any], key: str = "viewer") -> Viewer:
        viewer = self.viewers.get(int(args.get(key) or 0))
        if viewer is None:
            raise UnreachableError("not attached", where="hub", fix="attach to the target first")
        return viewer

    def _start_forwarders(self) -> None:
        """Forward a new viewer's events only once its attach was answered, so they come after."""
        for viewer in self.viewers.values():
            if viewer.id not in self._forwarders:
                self._forwarders[viewer.id] = asyncio.ensure_future(self._forward(viewer))

    async def _forward(self, viewer: Viewer) -> None:
        """A viewer's events to the app process; a slow socket backs up into the viewer's bounded
        queue, which drops frames and restarts from a snapshot, never holding up the console."""
        async for event in viewer.events():
            message: dict[str, Any] = {"event": viewer.id, "kind": event.kind}
            if event.data:
                message["data"] = _b64(event.data)
            if event.text:
                message["text"] = event.text
            if event.kind == "lock":
                session = self.hub.session(viewer.target)
                message["mine"] = session is not None and session.lock_holder is viewer
            await self.send(message)
        self.viewers.pop(viewer.id, None)

    # -- operations ------------------------------------------------------------------------

    async def op_status(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        self._last_status = self._statuses()
        return self._last_status

    async def op_probe(self, args: dict[str, Any]) -> dict[str, Any]:
        return (await self.hub.probe(self._check_target(args.get("name", "")))).as_dict()

    async def op_open(self, args: dict[str, Any]) -> str:
        session = await self.hub.open(
            self._check_target(args.get("name", "")), wait=float(args.get("wait", 0))
        )
        return session.state.value

    async def op_attach(self, args: dict[str, Any]) -> dict[str, Any]:
        name = self._check_target(args.get("name", ""))
        role = _lesser_role(str(args.get("role", self.user.role)), self.user.role)
        viewer = await self.hub.attach(
            name,
            who=self.user.name,
            role=role,
            source=self.principal.source,
            write=bool(args.get("write", True)),
            wait=float(args.get("wait", 0)),
        )
        self.viewers[viewer.id] = viewer
        return {
            "id": viewer.id,
            "target": name,
            "who": viewer.who,
            "role": role,
            "source": viewer.source,
        }

    async def op_detach(self, args: dict[str, Any]) -> None:
        viewer = self.viewers.get(int(args.get("viewer") or 0))
        if viewer is not None:
            await self._detach(viewer)

    async def _detach(self, viewer: Viewer) -> None:
        await self.hub.detach(viewer)
        viewer.deliver(Event("detached", text="detached"))
        self.viewers.pop(viewer.id, None)

    async def op_snapshot(self, args: dict[str, Any]) -> None:
        viewer = self._viewer(args)
        session = self.hub.session(viewer.target)
        if session is not None:
            viewer.deliver(Event("snapshot", session.screen.snapshot()))

    async def op_write(self, args: dict[str, Any]) -> None:
        await self.hub.write(
            self._viewer(args), _unb64(args.get("data", "")), paced=bool(args.get("paced"))
        )

    async def op_send_keys(self, args: dict[str, Any]) -> str:
        names = [str(n) for n in args.get("names", [])]
        return _b64(await self.hub.send_keys(self._viewer(args), names))

    async def op_send_break(self, args: dict[str, Any]) -> None:
        await self.hub.send_break(self._viewer(args))

    async def op_sysrq(self, args: dict[str, Any]) -> None:
        await self.hub.sysrq(
            self._viewer(args), str(args.get("keys", "")), pause=float(args.get("pause", 2.0))
        )

    async def op_nmi(self, args: dict[str, Any]) -> None:
        await self.hub.nmi(self._viewer(args))

    async def op_reset(self, args: dict[str, Any]) -> None:
        await self.hub.reset(self._viewer(args))

    async def op_power_state(self, args: dict[str, Any]) -> str:
        return await self.hub.power_state(self._check_target(args.get("name", "")))

    async def op_request_lock(self, args: dict[str, Any]) -> bool:
        return await self.hub.request_lock(self._viewer(args))

    async def op_hand_over(self, args: dict[str, Any]) -> int:
        viewer = self._viewer(args)
        to: Viewer | None = None
        if args.get("to"):
            session = self.hub.session(viewer.target)
            to = session.viewers.get(int(args["to"])) if session else None
            if to is None:
                raise UnreachableError("that viewer is no longer attached", where=viewer.target)
        given = await self.hub.hand_over(viewer, to)
        return given.id if given else 0

    async def op_take_lock(self, args: dict[str, Any]) -> None:
        await self.hub.take_lock(self._viewer(args))

    async def op_reconnect(self, args: dict[str, Any]) -> None:
        await self.hub.reconnect(self._viewer(args))

    async def op_resize(self, args: dict[str, Any]) -> None:
        await self.hub.resize(self._viewer(args), int(args["columns"]), int(args["rows"]))

    async def op_sync_size(self, args: dict[str, Any]) -> None:
        await self.hub.sync_size(self._viewer(args), int(args["columns"]), int(args["rows"]))

    # -- end -------------------------------------------------------------------------------

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for viewer in list(self.viewers.values()):
            with contextlib.suppress(Exception):
                await self.hub.detach(viewer)
            viewer.deliver(Event("detached", text="the app process went away"))
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


# -- the client side ------------------------------------------------------------------------


@dataclass(eq=False)
class RemoteViewer(Viewer):
    """An attachment made through a RemoteHub: a Viewer whose events come over the socket."""

    holds_lock: bool = False
    on_overflow: Callable[[RemoteViewer], None] | None = None

    def deliver(self, event: Event, snapshot: bytes | None = None) -> None:
        """As a Viewer's; when the app falls behind, the server is asked for a fresh snapshot."""
        dropped = self.dropped
        super().deliver(event, snapshot)
        if self.dropped != dropped and self.on_overflow is not None:
            self.on_overflow(self)


@dataclass(frozen=True)
class LockHolder:
    """Who holds a session's write lock, when it is somebody else."""

    id: int
    label: str


@dataclass
class RemoteSession:
    """What an app process can see of a live session: its state, writer and who is attached."""

    name: str
    state: str
    lock_holder: RemoteViewer | LockHolder | None
    summary: str
    transcript_path: str

    def viewer_summary(self) -> str:
        return self.summary


class RemoteHub:
    """The Hub API for an app process, spoken over the hub socket of `console-tui serve`."""

    def __init__(self, sock: socket.socket, welcome: dict[str, Any]) -> None:
        self._sock: socket.socket | None = sock
        self.who: str = welcome["who"]
        self.role: str = welcome["role"]
        self.source: str = welcome["source"]
        settings = {
            k: v for k, v in welcome["settings"].items() if k in {f.name for f in fields(Settings)}
        }
        targets = tuple(Target(**t) for t in welcome["targets"])
        self.config = Config(path=None, settings=Settings(**settings), targets=targets)
        self._statuses: dict[str, dict[str, Any]] = {}
        self._viewers: dict[int, RemoteViewer] = {}
        self._pending: dict[int, tuple[asyncio.Future[Any], Callable[[Any], Any] | None]] = {}
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
            sock.sendall(_encode(hello))
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
            _raise_error(
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
                self._writer.write(_encode({"op": "watch"}))
        assert self._writer is not None
        return self._writer

    async def _call(
        self, op: str, *, on_result: Callable[[Any], Any] | None = None, **args: Any
    ) -> Any:
        """Send a request and wait for its answer; `on_result` runs as soon as the answer is read,
        before any later message is handled."""
        if self.closed:
            raise UnreachableError("the hub connection is closed", where="hub", fix="reconnect")
        writer = await self._ensure()
        self._ids += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._ids] = (future, on_result)
        writer.write(_encode({"id": self._ids, "op": op, "args": args}))
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
            kind = message.get("kind", "")
            if kind == "lock":
                viewer.holds_lock = bool(message.get("mine"))
            viewer.deliver(Event(kind, _unb64(message.get("data", "")), message.get("text", "")))
            if kind == "detached":
                self._viewers.pop(viewer.id, None)
        elif "status" in message:
            self._statuses = {s["name"]: s for s in message["status"]}
        elif "id" in message:
            future, on_result = self._pending.pop(message["id"], (None, None))
            if future is None or future.done():
                return
            try:
                if "error" in message:
                    _raise_error(message["error"])
                result = message.get("result")
                future.set_result(on_result(result) if on_result else result)
            except Exception as exc:
                future.set_exception(exc)

    def _lost(self) -> None:
        self.closed = True
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(UnreachableError("the hub went away", where="hub"))
        self._pending.clear()
        for viewer in self._viewers.values():
            viewer.deliver(Event("detached", text="the connection to the server's hub was lost"))
        self._viewers.clear()

    def _ask_snapshot(self, viewer: RemoteViewer) -> None:
        task = asyncio.get_running_loop().create_task(self._call("snapshot", viewer=viewer.id))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    # -- targets ---------------------------------------------------------------------------

    def targets(self) -> tuple[Target, ...]:
        return self.config.targets

    def target(self, name: str) -> Target:
        return self.config.target(name)

    def status(self, name: str) -> TargetStatus:
        target = self.target(name)
        raw = self._statuses.get(name)
        if raw is None:
            return TargetStatus(
                name=name,
                group=target.group,
                backing=target.console.split(":", 1)[0],
                console=target.console,
                control=target.control,
                state="closed",
            )
        return _target_status(raw)

    def session(self, name: str) -> RemoteSession | None:
        raw = self._statuses.get(name)
        if raw is None or raw.get("state", "closed") == "closed":
            return None
        writer_id = raw.get("writer_id", 0)
        holder: RemoteViewer | LockHolder | None = None
        if writer_id:
            holder = self._viewers.get(writer_id) or LockHolder(writer_id, raw.get("writer", ""))
        return RemoteSession(
            name, raw["state"], holder, raw.get("summary", ""), raw.get("transcript", "")
        )

    def can_break(self, name: str) -> Capability:
        return self._capability(name, "can_break")

    def can_control(self, name: str) -> Capability:
        return self._capability(name, "can_control")

    def _capability(self, name: str, key: str) -> Capability:
        self.target(name)
        raw = self._statuses.get(name, {}).get(key)
        if raw is None:
            return Capability(False, "not known yet")
        return Capability(bool(raw[0]), str(raw[1]))

    async def refresh(self) -> None:
        """Fetch every visible target's status now (it is also pushed when it changes)."""
        self._statuses = {s["name"]: s for s in await self._call("status")}

    async def probe(self, name: str) -> TargetStatus:
        return _target_status(await self._call("probe", name=name))

    async def open(self, name: str, *, wait: float = 0.0) -> RemoteSession | None:
        await self._call("open", name=name, wait=wait)
        await self.refresh()
        return self.session(name)

    # -- viewers ---------------------------------------------------------------------------

    async def attach(
        self,
        name: str,
        *,
        who: str = "",
        role: str = "",
        source: str = "",
        write: bool = True,
        wait: float = 0.0,
    ) -> RemoteViewer:
        """Attach as the SSH user this app process acts for (who and source are the server's;
        role can only be lowered)."""
        self.target(name)

        def attached(info: dict[str, Any]) -> RemoteViewer:
            viewer = RemoteViewer(
                target=name,
                who=info["who"],
                role=info["role"],
                source=info["source"],
                id=info["id"],
                last_input=time.monotonic(),
                on_overflow=self._ask_snapshot,
            )
            self._viewers[viewer.id] = viewer
            return viewer

        return await self._call(
            "attach", on_result=attached, name=name, role=role or self.role, write=write, wait=wait
        )

    async def detach(self, viewer: RemoteViewer) -> None:
        if viewer.id in self._viewers and not self.closed:
            await self._call("detach", viewer=viewer.id)

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

    # -- the write lock --------------------------------------------------------------------

    async def request_lock(self, viewer: RemoteViewer) -> bool:
        return bool(await self._call("request_lock", viewer=viewer.id))

    async def hand_over(
        self, viewer: RemoteViewer, to: RemoteViewer | LockHolder | None = None
    ) -> RemoteViewer | LockHolder | None:
        given = await self._call("hand_over", viewer=viewer.id, to=to.id if to else 0)
        if not given:
            return None
        return self._viewers.get(given) or LockHolder(given, "")

    async def take_lock(self, viewer: RemoteViewer) -> None:
        await self._call("take_lock", viewer=viewer.id)

    async def reconnect(self, viewer: RemoteViewer) -> None:
        await self._call("reconnect", viewer=viewer.id)

    async def resize(self, viewer: RemoteViewer, columns: int, rows: int) -> None:
        await self._call("resize", viewer=viewer.id, columns=columns, rows=rows)

    async def sync_size(self, viewer: RemoteViewer, columns: int, rows: int) -> None:
        await self._call("sync_size", viewer=viewer.id, columns=columns, rows=rows)

    # -- actions ---------------------------------------------------------------------------

    async def write(self, viewer: RemoteViewer, data: bytes, *, paced: bool = False) -> None:
        viewer.last_input = time.monotonic()
        await self._call("write", viewer=viewer.id, data=_b64(data), paced=paced)

    async def send_keys(self, viewer: RemoteViewer, names: list[str]) -> bytes:
        return _unb64(await self._call("send_keys", viewer=viewer.id, names=list(names)))

    async def send_break(self, viewer: RemoteViewer) -> None:
        await self._call("send_break", viewer=viewer.id)

    async def sysrq(self, viewer: RemoteViewer, sysrq_keys: str, *, pause: float = 2.0) -> None:
        await self._call("sysrq", viewer=viewer.id, keys=sysrq_keys, pause=pause)

    async def nmi(self, viewer: RemoteViewer) -> None:
        await self._call("nmi", viewer=viewer.id)

    async def reset(self, viewer: RemoteViewer) -> None:
        await self._call("reset", viewer=viewer.id)

    async def power_state(self, name: str) -> str:
        return str(await self._call("power_state", name=name))


def _target_status(raw: dict[str, Any]) -> TargetStatus:
    names = {f.name for f in fields(TargetStatus)}
    return TargetStatus(**{k: v for k, v in raw.items() if k in names})


__all__ = [
    "HubService",
    "LockHolder",
    "Principal",
    "RemoteHub",
    "RemoteSession",
    "RemoteViewer",
]

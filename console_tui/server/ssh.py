"""The SSH server: one Hub for everybody, public-key login, and a small class per connection."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Awaitable, Sequence
from typing import Any

import asyncssh

from console_tui.core import paths
from console_tui.core.audit import FLOOD_WINDOW, AuditLog
from console_tui.core.config import Config, User
from console_tui.core.hub import Hub
from console_tui.core.hubwire import HubService, Principal
from console_tui.server.appproc import AppProcess
from console_tui.server.auth import FailureLimiter, KeyRing, load_host_key
from console_tui.server.channel import ConsoleChannel, default_app_command

LOGIN_TIMEOUT = 30.0
KEEPALIVE = 30.0


class ConsoleServer:
    """Everything `console-tui serve` runs: the Hub, its socket for app processes, and asyncssh."""

    def __init__(
        self,
        config: Config,
        *,
        hub: Hub | None = None,
        app_command: Sequence[str] | None = None,
        limiter: FailureLimiter | None = None,
    ) -> None:
        self.config = config
        self.hub = hub or Hub(config)
        self.audit: AuditLog = self.hub.audit
        self.keys = KeyRing(config.users)
        self.limiter = limiter or FailureLimiter()
        self.host_key = load_host_key()
        self.service = HubService(self.hub, paths.runtime_dir() / f"hub-{os.getpid()}.sock")
        self._app_command = list(app_command) if app_command else None
        self.apps: dict[int, AppProcess] = {}
        self.app_sessions: Counter[str] = Counter()
        """full-screen app sessions per user, counted from the moment one is granted"""
        self._server: asyncssh.SSHAcceptor | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.connections: set[ConsoleConnection] = set()

    @property
    def fingerprint(self) -> str:
        return self.host_key.get_fingerprint()

    def app_command(self) -> list[str]:
        """The app process's command; the hub socket (and then the token's pipe) are appended."""
        return [
            *(self._app_command or default_app_command()),
            "--hub-socket",
            str(self.service.path),
        ]

    async def start(self, host: str, port: int) -> int:
        """Listen; the port actually bound (for port 0). Discovery looks once first, so the
        first app's target list already holds what it finds."""
        await self.hub.refresh_targets()
        await self.service.start()
        self._server = await asyncssh.create_server(
            lambda: ConsoleConnection(self),
            host or None,
            port,
            server_host_keys=[self.host_key],
            encoding=None,
            line_editor=False,
            login_timeout=LOGIN_TIMEOUT,
            keepalive_interval=KEEPALIVE,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
        )
        if self.config.settings.idle_timeout:
            self.spawn(self._idle_watch(float(self.config.settings.idle_timeout)))
        self.spawn(self._audit_floods())
        return self._server.get_port()

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _idle_watch(self, timeout: float) -> None:
        while True:
            await asyncio.sleep(min(max(timeout / 4, 0.5), 10.0))
            await self.hub.detach_idle(timeout)

    async def _audit_floods(self) -> None:
        """Write the counts of coalesced audit records once their minute is over."""
        while True:
            await asyncio.sleep(FLOOD_WINDOW / 4)
            self.audit.flush_floods(time.monotonic())

    def grant_app(self, user: str) -> str:
        """Count a new app session for `user`; or, over a limit, why not (nothing counted)."""
        settings = self.config.settings
        mine, everybody = self.app_sessions[user], sum(self.app_sessions.values())
        if settings.max_sessions_per_user and mine >= settings.max_sessions_per_user:
            return (
                f"{user} already has {mine} full-screen sessions open, the most allowed "
                f"(max_sessions_per_user = {settings.max_sessions_per_user}); close one, or attach "
                "to one console with `ssh -t console@HOST NAME`"
            )
        if settings.max_sessions and everybody >= settings.max_sessions:
            return (
                f"the server has {everybody} full-screen sessions open, the most allowed "
                f"(max_sessions = {settings.max_sessions}); try again later, or attach to one "
                "console with `ssh -t console@HOST NAME`"
            )
        self.app_sessions[user] += 1
        return ""

    def release_app(self, user: str) -> None:
        self.app_sessions[user] -= 1
        if self.app_sessions[user] <= 0:
            del self.app_sessions[user]

    def app_started(self, app: AppProcess) -> None:
        self.apps[app.pid] = app

    def app_stopped(self, app: AppProcess) -> None:
        self.apps.pop(app.pid, None)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close()
        for app in list(self.apps.values()):
            await app.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        await self.service.close()
        await self.hub.close()


class ConsoleConnection(asyncssh.SSHServer):
    """One client connection: who it is (decided by the key) and where it came from.

    A connection that ends without logging in counts once against its source address, however
    many keys it offered; refusals are audited as floods (one record a minute with a count)."""

    def __init__(self, server: ConsoleServer) -> None:
        self.server = server
        self.conn: asyncssh.SSHServerConnection | None = None
        self.source = "?"
        self.user: User | None = None
        self._login = ""
        self._logged_in = False
        self._turned_away = False
        self._offered = 0

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername") or ("?",)
        self.source = str(peer[0])
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if not self._logged_in and not self._turned_away:
            self.server.limiter.failed(self.source)
            if not self._offered:
                self._audit_failure("left without offering a key")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def _audit_failure(self, reason: str, **fields: object) -> None:
        self.server.audit.record_flood(
            "auth-failed", who=self._login, source=self.source, reason=reason, **fields
        )

    def begin_auth(self, username: str) -> bool:
        self._login = username
        if self.server.limiter.blocked(self.source):
            self._turned_away = True
            self._audit_failure("too many failed logins")
            if self.conn is not None:
                self.conn.disconnect(
                    asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE,
                    "too many failed logins from your address; try again in a minute",
                )
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self._turned_away:
            return False
        user = self.server.keys.user_for(username, key)
        if user is None:
            self._offered += 1
            reason = "unknown key" if username == "console" else "unknown key or login name"
            self._audit_failure(reason, key=key.get_fingerprint())
            return False
        self.user = user
        return True

    def auth_completed(self) -> None:
        assert self.user is not None
        self._logged_in = True
        self.server.audit.record(
            "login", who=self.user.name, source=self.source, login=self._login, role=self.user.role
        )

    def session_requested(self) -> ConsoleChannel:
        assert self.user is not None
        return ConsoleChannel(self.server, Principal(self.user, self.source))

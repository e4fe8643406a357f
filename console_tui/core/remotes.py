"""Chaining: other `console-tui serve`s reached over SSH, one connection per remote.

A `[[remote]]` names another serve. Its targets (its own `list --json`, as its roles let this
login see them) become targets here, with consoles `ssh://USER@HOST:PORT/NAME?remote=R`; opening
one runs the remote's `stream NAME` command on the shared connection (core/backings/ssh.py). The
remote's own roles apply: a login that is a viewer there stays a viewer through here.

Naming rule: a remote target keeps its own name; when that name is taken here (a configured or
found target, or another remote's), it becomes `REMOTE.NAME`.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import asyncssh

from console_tui.core.config import Remote, Target
from console_tui.core.errors import UnreachableError

CONNECT_TIMEOUT = 10.0
STREAM_HEADER = "console-tui-stream"
"""the key of the JSON line `serve`'s `stream` command sends before the console's bytes"""


@dataclass
class Link:
    """One SSH connection to one remote, opened on first use and shared by every session."""

    remote: Remote
    connection: asyncssh.SSHClientConnection | None = None
    trouble: str = ""
    """why the last try failed, in operator words; empty while connected"""
    _opening: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def user(self) -> str:
        return urlsplit(self.remote.url).username or "console"

    @property
    def host(self) -> str:
        return urlsplit(self.remote.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.remote.url).port or 22

    @property
    def place(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    async def connect(self) -> asyncssh.SSHClientConnection:
        """The live connection, made now if there is none; `UnreachableError` says why not."""
        async with self._opening:
            if self.connection is not None and not self.connection.is_closed():
                return self.connection
            options: dict[str, Any] = {"username": self.user, "port": self.port}
            if self.remote.key:
                options["client_keys"] = [self.remote.key]
            if self.remote.known_hosts:
                options["known_hosts"] = self.remote.known_hosts
            try:
                self.connection = await asyncio.wait_for(
                    asyncssh.connect(self.host, **options), CONNECT_TIMEOUT
                )
            except (OSError, asyncssh.Error, TimeoutError, ValueError) as exc:
                self.connection = None
                self.trouble = _reason(exc)
                raise UnreachableError(
                    f"remote {self.remote.name} ({self.place}): {self.trouble}",
                    where=self.remote.where or f"remote {self.remote.name}",
                    fix=_fix(exc, self),
                ) from None
            self.trouble = ""
            return self.connection

    async def targets(self) -> list[Target]:
        """The remote's targets this login may see, as targets here (names not yet unique)."""
        connection = await self.connect()
        try:
            result = await asyncio.wait_for(
                connection.run("list --json", check=False), CONNECT_TIMEOUT
            )
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            self.trouble = _reason(exc)
            raise UnreachableError(
                f"remote {self.remote.name}: `list` failed: {self.trouble}",
                where=self.remote.where,
                fix="check that the remote runs `console-tui serve`",
            ) from None
        try:
            rows = json.loads(str(result.stdout or ""))
        except ValueError:
            rows = None
        if not isinstance(rows, list):
            raise UnreachableError(
                f"remote {self.remote.name} answered `list --json` with something else",
                where=self.remote.where,
                fix="point url at a `console-tui serve` (not a plain sshd)",
            )
        return [self._target(row) for row in rows if isinstance(row, dict) and row.get("name")]

    def _target(self, row: dict[str, Any]) -> Target:
        name = str(row["name"])
        console = (
            f"ssh://{quote(self.user)}@{self.host}:{self.port}/{quote(name)}"
            f"?remote={quote(self.remote.name)}"
        )
        description = f"on {self.remote.name}" + (
            f": {row['description']}" if row.get("description") else ""
        )
        return Target(
            name=name,
            console=console,
            group=self.remote.group or self.remote.name,
            description=description,
            capture=False,
            source="remote",
            where=f"remote {self.remote.name}: {name}",
        )

    async def open_stream(
        self, name: str
    ) -> tuple[asyncssh.SSHWriter[bytes], asyncssh.SSHReader[bytes], dict[str, Any]]:
        """Run `stream NAME` on the shared connection; return its writer, its reader and the
        header the remote sent first (its name for the target and this login's role there)."""
        connection = await self.connect()
        try:
            writer, reader, _ = await connection.open_session(
                f"stream {shlex.quote(name)}", encoding=None
            )
            line = await asyncio.wait_for(reader.readline(), CONNECT_TIMEOUT)
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise UnreachableError(
                f"remote {self.remote.name}: could not open {name}: {_reason(exc)}",
                where=self.remote.where,
                fix="check the remote's `list` and its log",
            ) from None
        try:
            header = json.loads(line.decode("utf-8", "replace"))
        except ValueError:
            header = None
        if not isinstance(header, dict) or STREAM_HEADER not in header:
            said = line.decode("utf-8", "replace").strip() or "nothing"
            writer.close()
            raise UnreachableError(
                f"remote {self.remote.name} refused {name}: {said}",
                where=self.remote.where,
                fix="check that this login may see it there (`ssh ... list`)",
            )
        return writer, reader, header

    async def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            await self.connection.wait_closed()
            self.connection = None


_links: dict[str, Link] = {}


def link(remote: Remote) -> Link:
    """The one shared link for a remote (made on first ask; a changed entry gets a new one)."""
    current = _links.get(remote.name)
    if current is None or current.remote != remote:
        current = _links[remote.name] = Link(remote)
    return current


def find(name: str) -> Link | None:
    return _links.get(name)


def line_state(remote: str) -> tuple[str, str]:
    """`(state, detail)` of a remote's target for `list`, from its link: opening a stream to
    look would attach there (and be audited there) on every look."""
    current = _links.get(remote)
    if current is None:
        return "unreachable", f"no [[remote]] named {remote!r} in this config"
    if current.trouble:
        return "unreachable", f"remote {remote}: {current.trouble}"
    return "reachable", ""


async def close_all() -> None:
    for current in list(_links.values()):
        await current.close()
    _links.clear()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return "its host key is not in known_hosts"
    if isinstance(exc, asyncssh.PermissionDenied):
        return "login refused (the key is not one of its [[user]] keys)"
    if isinstance(exc, ValueError):
        return f"cannot read the known_hosts or key file: {exc}"
    text = str(exc) or type(exc).__name__
    return text[0].lower() + text[1:]


def _fix(exc: BaseException, current: Link) -> str:
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        where = current.remote.known_hosts or "~/.ssh/known_hosts"
        return (
            f"check the host key with the remote's admin and add it to {where} "
            f"(ssh-keyscan -p {current.port} {current.host})"
        )
    if isinstance(exc, ValueError):
        return "fix that file: one `[HOST]:PORT KEYTYPE BASE64` line per host (ssh-keyscan prints them)"
    if isinstance(exc, asyncssh.PermissionDenied):
        return "add this key's public half to a [[user]] on the remote, or set key = in [[remote]]"
    return "check that the remote's `console-tui serve` is running and reachable"

"""One SSH session channel: the full-screen app, passthrough to one target, `list` or `stream`.

Every kind of channel in one module (over 400 lines), because asyncssh calls one session object
for all of them and each callback (data, break, window, size) branches on the kind.

ssh console@host              the app, in its own process on a pty (see appproc.py)
ssh -t console@host NAME      passthrough with the `attach` escapes, in the server process
ssh console@host list         the targets this user may see
ssh console@host stream NAME  the raw console, for another console-tui chaining to this one
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import sys
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import asyncssh

from console_tui.core.api import EventKind, Viewer, status_table
from console_tui.core.config import Role
from console_tui.core.errors import EXIT_NOT_PERMITTED, EXIT_OK, EXIT_USAGE, ConsoleError
from console_tui.core.hubwire import Principal
from console_tui.core.passthrough import Passthrough
from console_tui.core.remotes import STREAM_HEADER
from console_tui.server.appproc import AppProcess

if TYPE_CHECKING:
    from console_tui.server.ssh import ConsoleServer

APP_ENV = ("COLORTERM", "LC_ALL", "LANG", "LC_CTYPE")
"""The client's environment the app is given; every other `env` request is ignored."""
ENV_VALUE_MAX = 256


class AcceptedEnv(dict[bytes, bytes]):
    """A channel's environment that keeps only what the app uses, in short values: a client
    cannot make the server hold what it sends in `env` requests."""

    accepted = frozenset(name.encode() for name in APP_ENV)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        if key in self.accepted and len(value) <= ENV_VALUE_MAX:
            super().__setitem__(key, value)


USAGE = """\
usage: ssh console@HOST                 the full-screen app
       ssh -t console@HOST NAME         attach to NAME (escapes after Enter: ~~? help, ~~. detach)
       ssh -t console@HOST attach NAME [--read-only]
       ssh console@HOST list [--json]   the targets you may open
       ssh console@HOST stream NAME     the raw console (another console-tui's [[remote]])
"""


class ConsoleChannel(asyncssh.SSHServerSession[bytes]):
    """What one `ssh` command asked for, run until it ends or the client goes away."""

    def __init__(self, server: ConsoleServer, principal: Principal) -> None:
        self.server = server
        self.principal = principal
        self.user = principal.user
        self.chan: asyncssh.SSHServerChannel[bytes] | None = None
        self.term = ""
        self.size = (80, 24)
        self.command: list[str] | None = None
        self.app: AppProcess | None = None
        self.passthrough: Passthrough | None = None
        self.stream: Viewer | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._token = ""
        self._granted = False
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- asyncssh callbacks ----------------------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:  # type: ignore[override]
        self.chan = chan
        # asyncssh stores every `env` request in this dict, and asks the session nothing.
        chan._env = AcceptedEnv()

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: object
    ) -> bool:
        self.term = term_type
        if term_size[0] and term_size[1]:
            self.size = (term_size[0], term_size[1])
        return True

    def shell_requested(self) -> bool:
        self.command = []
        return True

    def exec_requested(self, command: str) -> bool:
        try:
            self.command = shlex.split(command)
        except ValueError:
            self.command = ["?"]
        return True

    def session_started(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"ssh channel {self.user.name}"
        )

    def data_received(self, data: bytes, datatype: int | None) -> None:
        if self.app is not None:
            self.server.service.touch(self.principal)
            self.app.write(data)
        else:
            self._inbox.put_nowait(data)

    def eof_received(self) -> bool:
        """The client's input ended; keep the channel open for what is still to be said."""
        if self.app is None:
            self._inbox.put_nowait(None)
        return True

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if not (width and height):
            return
        self.size = (width, height)
        if self.app is not None:
            self.app.resize(width, height, pixwidth, pixheight)
        elif self.passthrough is not None:
            self._spawn(self.server.hub.resize(self.passthrough.viewer, width, height))

    def break_received(self, msec: int) -> bool:
        """An SSH break request (OpenSSH `~B`) is a BREAK on the console."""
        if self.passthrough is not None:
            self._inbox.put_nowait(b"")
            return True
        if self.stream is not None:
            self._spawn(self.server.hub.send_break(self.stream))
            return True
        if self.app is not None:
            self._spawn(self._app_break())
            return True
        return False

    def pause_writing(self) -> None:
        """The client reads slower than we write: stop taking output until the buffer drains."""
        if self.app is not None:
            self.app.pause_output()
        elif self.passthrough is not None:
            self.passthrough.pause_output()
        self._writable.clear()

    def resume_writing(self) -> None:
        if self.app is not None:
            self.app.resume_output()
        elif self.passthrough is not None:
            self.passthrough.resume_output()
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._task is not None and not self._task.done():
            self._task.cancel()

    # -- the run ---------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[object]) -> None:
        """Run a Hub call from a callback; the server owns (and at the end cancels) the task."""

        async def guarded() -> None:
            with contextlib.suppress(ConsoleError, OSError):
                await coro

        self.server.spawn(guarded())

    def _write(self, data: bytes) -> None:
        if self.chan is not None and not self._closing:
            with contextlib.suppress(OSError, asyncssh.Error):
                self.chan.write(data)

    def _text(self, text: str, *, stderr: bool = False) -> None:
        data = (text.replace("\n", "\r\n") if self.term else text).encode()
        if self.chan is None or self._closing:
            return
        with contextlib.suppress(OSError, asyncssh.Error):
            (self.chan.write_stderr if stderr else self.chan.write)(data)

    async def _run(self) -> None:
        status = EXIT_OK
        try:
            status = await self._dispatch(self.command or [])
        except ConsoleError as exc:
            self._text(f"console-tui: {exc}\n", stderr=True)
            status = exc.exit_code
        except asyncio.CancelledError:
            status = EXIT_OK
        finally:
            await self._cleanup()
            if self.chan is not None and not self._closing:
                with contextlib.suppress(OSError, asyncssh.Error):
                    self.chan.exit(status)

    async def _dispatch(self, argv: list[str]) -> int:
        if not argv:
            return await self._run_app()
        if argv[0] == "list":
            return await self._list(as_json="--json" in argv[1:])
        if argv[0] in ("help", "--help", "-h"):
            self._text(USAGE)
            return EXIT_OK
        if argv[0] == "attach" and len(argv) >= 2:
            extra = argv[2:]
            if any(a != "--read-only" for a in extra):
                self._text(USAGE, stderr=True)
                return EXIT_USAGE
            return await self._attach(argv[1], read_only=bool(extra))
        if argv[0] == "stream" and len(argv) == 2:
            return await self._stream(argv[1])
        if len(argv) == 1 and not argv[0].startswith("-"):
            return await self._attach(argv[0], read_only=False)
        self._text(USAGE, stderr=True)
        return EXIT_USAGE

    async def _list(self, *, as_json: bool) -> int:
        hub = self.server.hub
        await hub.refresh_targets()
        targets = hub.visible_targets(self.user)
        statuses = await asyncio.gather(*(hub.probe(t.name) for t in targets))
        if as_json:
            self._text(json.dumps([s.as_dict() for s in statuses], indent=2) + "\n")
            return EXIT_OK
        if not statuses:
            self._text(
                f"no targets for {self.user.name}; an admin can add your groups to the config\n"
            )
            return EXIT_OK
        self._text(status_table(list(statuses)) + "\n")
        return EXIT_OK

    # -- passthrough -----------------------------------------------------------------------

    async def _attach(self, name: str, *, read_only: bool) -> int:
        hub = self.server.hub
        if not hub.may_see(self.user, name):
            self._text(
                f"console-tui: no target named {name!r} for {self.user.name}; `list` shows yours\n",
                stderr=True,
            )
            return EXIT_NOT_PERMITTED
        role = Role.VIEWER if read_only else self.user.role
        writes = not read_only and role.at_least(Role.OPERATOR)
        viewer = await hub.attach(
            name, who=self.user.name, role=role, source=self.principal.source, write=writes, wait=8
        )
        passthrough = Passthrough(hub, viewer, self._write, size=lambda: self.size)
        self.passthrough = passthrough
        if self.size != (80, 24):
            await hub.resize(viewer, *self.size)
        passthrough.say(
            f"attached to {name} as {self.user.name} ({role}); through ssh: ~~? help, ~~. detach"
            + ("" if writes else "; you watch only: your keystrokes are not sent")
        )
        pump = asyncio.get_running_loop().create_task(passthrough.pump_output())
        try:
            while not passthrough.done.is_set():
                done = asyncio.ensure_future(passthrough.done.wait())
                data = await self._next_input(done)
                done.cancel()
                if data is None:
                    break
                viewer.last_input = time.monotonic()
                if data == b"":
                    await self._break(passthrough)
                else:
                    await passthrough.feed(data)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            passthrough.restore_terminal()
            await hub.detach(viewer)
        return EXIT_OK

    async def _stream(self, name: str) -> int:
        """The raw console for another console-tui: one JSON line (the target, this login's
        role), then the console's bytes both ways, with no banner and no escapes. The role
        here rules: a viewer's bytes are never sent, and the far side says so before."""
        hub = self.server.hub
        if not hub.may_see(self.user, name):
            self._text(f"no target named {name!r} for {self.user.name}\n")
            return EXIT_NOT_PERMITTED
        role = self.user.role
        try:
            viewer = await hub.attach(
                name,
                who=self.user.name,
                role=role,
                source=self.principal.source,
                write=role.at_least(Role.OPERATOR),
                wait=8,
            )
        except ConsoleError as exc:
            self._text(f"{exc}\n")
            return exc.exit_code
        self.stream = viewer
        header = {STREAM_HEADER: 1, "target": name, "role": str(role)}
        self._write(json.dumps(header).encode() + b"\n")

        async def pump() -> None:
            async for event in viewer.events():
                if event.kind in (EventKind.OUTPUT, EventKind.SNAPSHOT):
                    self._write(event.data)
                    await self._writable.wait()

        pumping = asyncio.get_running_loop().create_task(pump())
        try:
            while (data := await self._next_input(pumping)) is not None:
                if role.at_least(Role.OPERATOR):
                    with contextlib.suppress(ConsoleError):  # refusals are audited there
                        await hub.write(viewer, data)
        finally:
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumping
            self.stream = None
            await hub.detach(viewer)
        return EXIT_OK

    async def _next_input(self, until: asyncio.Future[Any]) -> bytes | None:
        """The client's next input (b"" for a BREAK), or None once it ended or `until` did."""
        getter: asyncio.Future[Any] = asyncio.ensure_future(self._inbox.get())
        await asyncio.wait({getter, until}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            return None
        return getter.result()

    async def _break(self, passthrough: Passthrough) -> None:
        try:
            await self.server.hub.send_break(passthrough.viewer)
        except ConsoleError as exc:
            passthrough.say(str(exc))
            return
        passthrough.say("sent BREAK (SysRq: now type the key)")

    # -- the app ---------------------------------------------------------------------------

    async def _run_app(self) -> int:
        if not self.term:
            self._text(
                "console-tui: the app needs a terminal: use `ssh -t`, or a command: list, NAME\n",
                stderr=True,
            )
            return EXIT_USAGE
        refusal = self.server.grant_app(self.user.name)
        if refusal:
            self.server.audit.record(
                "denied", who=self.user.name, source=self.principal.source, action="open the app"
            )
            self._text(f"console-tui: {refusal}\n", stderr=True)
            return EXIT_NOT_PERMITTED
        self._granted = True
        self._token = self.server.service.issue_token(self.principal)
        app = AppProcess(
            self.server.app_command(),
            env=self._app_env(),
            columns=self.size[0],
            rows=self.size[1],
            on_output=self._write,
        )
        await app.start(self._token)
        self.app = app
        self.server.app_started(app)
        return await app.wait()

    def _app_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SSH_", "CONSOLE_TUI_"))}
        env["TERM"] = self.term or "xterm-256color"
        env.setdefault("LANG", "C.UTF-8")
        env["PYTHONUNBUFFERED"] = "1"
        if self.chan is not None:
            for key, value in self.chan.get_environment().items():
                if key in APP_ENV:
                    env[key] = value
        return env

    async def _app_break(self) -> None:
        """In the app, a break request goes to the console the operator typed on last."""
        viewer = self.server.service.last_writer(self.principal)
        if viewer is not None:
            await self.server.hub.send_break(viewer)

    async def _cleanup(self) -> None:
        if self._granted:
            self._granted = False
            self.server.release_app(self.user.name)
        if self._token:
            self.server.service.revoke(self._token)
        if self.app is not None:
            await self.app.stop()
            self.server.app_stopped(self.app)
        await self.server.service.disconnect(self.principal)


def default_app_command() -> list[str]:
    return [sys.executable, "-m", "console_tui"]

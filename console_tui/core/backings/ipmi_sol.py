"""IPMI Serial-over-LAN (`ipmi-sol://user@host[:port]`): a server's serial console through its BMC.

pyghmi's SOL console runs in an IO thread of its own (`_SOLThread`): it turns pyghmi's event loop
and runs the sends (which wait for the BMC's acknowledgement) in order; what pyghmi hands back hops
onto the asyncio loop with `call_soon_threadsafe`. A BMC serves one SOL session: another one active is reported, and
an admin may take it over (`take_over`), which ends the other session.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, ClassVar

from console_tui.core.backings import BackingClosed, ConsoleURI
from console_tui.core.errors import ConsoleError, NotPermittedError, UnreachableError
from console_tui.core.ipmi_common import BMC, PasswordSource, bmc_error, bmc_of, ipmi_command

OPEN_TIMEOUT = 20.0
ANOTHER_SESSION = "SOL Session active for another client"

_take_over: set[str] = set()
"""Console URIs whose next open deactivates another SOL session first (an admin asked)."""


def take_over(uri: str) -> None:
    """Let the next open of `uri` end another client's SOL session and take its place."""
    _take_over.add(uri)


class AnotherSessionError(NotPermittedError):
    """The BMC's one SOL session is someone else's."""


class _SOLThread(threading.Thread):
    """Turns pyghmi's event loop and runs calls into it, one at a time, in order."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )

    def call(self, act: Callable[[], Any]) -> asyncio.Future[Any]:
        done: Future[Any] = Future()
        self._calls.put((act, done))
        return asyncio.wrap_future(done)

    def stop(self) -> None:
        self._calls.put(None)

    def run(self) -> None:
        from pyghmi.ipmi.private import session

        while True:
            try:
                item = self._calls.get(timeout=0.02)
            except queue.Empty:
                session.Session.wait_for_rsp(timeout=0.05)
                continue
            if item is None:
                return
            act, done = item
            if done.set_running_or_notify_cancel():
                try:
                    done.set_result(act())
                except BaseException as exc:  # handed to the awaiting coroutine
                    done.set_exception(exc)


class IPMISOLBacking:
    kind: ClassVar[str] = "ipmi-sol"
    takes_password: ClassVar[bool] = True

    def __init__(
        self, uri: ConsoleURI, *, baud: int = 115200, password: PasswordSource | None = None
    ) -> None:
        self.uri = uri
        self.password = password or PasswordSource()
        self._queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()
        self._console: Any = None
        self._io = _SOLThread(f"sol {uri.host}:{uri.port}")
        self._bmc: BMC | None = None
        self._closed = False

    @property
    def can_break(self) -> bool:
        return True

    @property
    def break_reason(self) -> str:
        return ""

    async def open(self) -> None:
        from pyghmi.ipmi import console

        bmc = self._bmc = bmc_of(
            "ipmi-sol", self.uri.host, self.uri.port, self.uri.user, self.password
        )
        if self.uri.text in _take_over:
            # End the other client's SOL payload from a session of its own, then start ours.
            _take_over.discard(
                self.uri.text
            )  # one try per request: a refusal is told, not repeated
            await ipmi_command(bmc, "sol-deactivate", "", "the take-over of its SOL session")
        loop = asyncio.get_running_loop()
        activated = loop.create_future()

        def arrived(data: Any) -> None:
            loop.call_soon_threadsafe(self._arrived, data, activated)

        def start() -> Any:
            _forget(bmc)  # a fresh login, never one pyghmi kept from before
            return console.Console(bmc.host, bmc.user, bmc.password, arrived, port=bmc.port)

        try:
            self._io.start()
            self._console = await asyncio.wait_for(self._io.call(start), OPEN_TIMEOUT)
            await asyncio.wait_for(self._activation(activated), OPEN_TIMEOUT)
        except TimeoutError:
            await self.close()
            raise UnreachableError(
                f"the BMC did not start SOL within {OPEN_TIMEOUT:.0f} s",
                where=self.uri.where,
                fix="check the host and UDP port, and that IPMI over LAN and SOL are enabled",
            ) from None
        except ConsoleError:
            await self.close()
            raise
        except Exception as exc:
            await self.close()
            raise bmc_error(str(exc), bmc, "start SOL") from None
        # The BMC may drop the first packet of a session whose sequence number equals the last
        # one of the session before: spend that number on a packet without data.
        await self._send(lambda c: c._sendoutput(b""))

    async def _activation(self, activated: asyncio.Future[None]) -> None:
        """Until the BMC has activated the SOL payload (pyghmi says so by a flag, not a call:
        a machine that is off prints nothing) or refused it (an error through `_arrived`)."""
        while not activated.done() and not getattr(self._console, "activated", False):
            await asyncio.wait({activated}, timeout=0.05)
        if activated.done():
            activated.result()  # a refusal raises here
        else:
            activated.set_result(None)  # what goes wrong from now on goes to the reader

    def _arrived(self, data: Any, activated: asyncio.Future[None]) -> None:
        """On the loop: console bytes, or pyghmi's word that the session ended."""
        if isinstance(data, dict):
            if "error" not in data:
                return
            error = self._error(str(data["error"]))
            if not activated.done():
                activated.set_exception(error)
            else:
                self._queue.put_nowait(error)
            return
        if not activated.done():
            activated.set_result(None)
        chunk = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
        if chunk:
            self._queue.put_nowait(chunk)

    def _error(self, words: str) -> Exception:
        assert self._bmc is not None
        if words == ANOTHER_SESSION:
            return AnotherSessionError(
                "another SOL session is active on the BMC",
                where=self.uri.where,
                fix="close it there (ipmitool sol deactivate), or an admin takes it over: "
                "console-tui send NAME --take-over",
            )
        return bmc_error(words, self._bmc, "keep SOL")

    async def read(self) -> bytes:
        item = await self._queue.get()
        if isinstance(item, Exception):
            raise BackingClosed(str(item))
        return item

    async def write(self, data: bytes) -> None:
        await self._send(lambda c: c.send_data(data))

    async def send_break(self) -> None:
        await self._send(lambda c: c.send_break())

    async def _send(self, act: Any) -> None:
        if self._console is None or self._console.broken:
            raise BackingClosed("the SOL session ended")
        console = self._console
        await self._io.call(lambda: act(console))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        console, self._console = self._console, None
        bmc = self._bmc
        if bmc is not None and self._io.is_alive():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._io.call(lambda: _end(console, bmc)), 10.0)
        self._io.stop()


def _end(console: Any, bmc: BMC) -> None:
    """Deactivate SOL, then log out and forget the login (`_forget`)."""
    if console is not None:
        with contextlib.suppress(Exception):
            console.close()
    _forget(bmc)


def _forget(bmc: BMC) -> None:
    """Log out and make pyghmi forget this BMC login: it keeps finished logins (also those a
    refused activation or a lost BMC left behind) and would hand one to the next open, which
    then waits forever for a logon that never comes."""
    from pyghmi.ipmi.private.session import Session

    for handlers in Session.bmc_handlers.values():
        for key, session in list(handlers.items()):
            user = session.userid.decode() if isinstance(session.userid, bytes) else session.userid
            if (session.bmc, user, session.port) == (bmc.host, bmc.user, bmc.port):
                with contextlib.suppress(Exception):
                    session.logout()
                del handlers[key]
    Session.initting_sessions.pop((bmc.host, bmc.user, bmc.password, bmc.port, None), None)

"""`libvirt:///DOMAIN?uri=HYPERVISOR`: a libvirt domain's console over a non-blocking stream.

libvirt lets one client hold a domain's console at a time, so the Session holds one stream per
domain and fans it out to every viewer. When another client (`virsh console`) holds it, opening
fails with words saying so; an admin may take it over (`take_over`, libvirt's FORCE flag), and
the other client's stream then breaks. The stream carries no BREAK: SysRq goes through the
control's sendKey instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, ClassVar

from console_tui.core import hypervisors
from console_tui.core.backings import BackingClosed, ConsoleURI, break_refused
from console_tui.core.errors import UnreachableError

READ_SIZE = 65536
HELD_WORDS = "Active console session exists"
_take_over: set[tuple[str, str]] = set()
"""(hypervisor URI, domain) whose next console open takes the console from another client."""


class ConsoleHeld(UnreachableError):
    """Another client of the hypervisor holds the domain's console."""

    state = "in use"


def take_over(uri: ConsoleURI) -> None:
    """The next open of this domain's console forces other clients off (an admin asked)."""
    _take_over.add(hypervisors.split_line_uri(uri.text))


class LibvirtBacking:
    kind: ClassVar[str] = "libvirt"

    def __init__(self, uri: ConsoleURI, *, baud: int = 115200) -> None:
        self.uri = uri
        self.hypervisor, self.domain = hypervisors.split_line_uri(uri.text)
        self._stream: Any = None
        self._readable = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def can_break(self) -> bool:
        return False

    @property
    def break_reason(self) -> str:
        return "a libvirt console stream carries no BREAK: SysRq goes through libvirt sendKey"

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        where = f"libvirt: {self.domain or '(hypervisor)'} on {self.hypervisor}"
        libvirt = hypervisors.require_library(where)
        if not self.domain:
            raise hypervisors.problems.get(self.hypervisor) or UnreachableError(
                "a hypervisor is not a console", where=where, fix="open one of its domains"
            )
        conn = await hypervisors.connection(self.hypervisor)
        key = (self.hypervisor, self.domain)
        force = key in _take_over
        _take_over.discard(key)
        try:
            self._stream = await asyncio.to_thread(self._open_blocking, libvirt, conn, force)
        except libvirt.libvirtError as exc:
            raise self._open_error(libvirt, exc, where) from None
        events = (
            libvirt.VIR_STREAM_EVENT_READABLE
            | libvirt.VIR_STREAM_EVENT_ERROR
            | libvirt.VIR_STREAM_EVENT_HANGUP
        )
        self._stream.eventAddCallback(events, self._on_event, None)

    def _open_blocking(self, libvirt: Any, conn: Any, force: bool) -> Any:
        dom = conn.lookupByName(self.domain)
        stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        flags = libvirt.VIR_DOMAIN_CONSOLE_FORCE if force else 0
        try:
            dom.openConsole(None, stream, flags)
        except libvirt.libvirtError:
            with contextlib.suppress(libvirt.libvirtError):
                stream.abort()
            raise
        return stream

    def _open_error(self, libvirt: Any, exc: Any, where: str) -> UnreachableError:
        words = hypervisors.error_words(exc)
        code = exc.get_error_code()
        if HELD_WORDS in words:
            return ConsoleHeld(
                "another client holds this domain's console (virsh console?)",
                where=where,
                fix="close that client; or, as an admin, take the console over: "
                "console-tui send NAME --take-console (the other client is cut off)",
            )
        if code == libvirt.VIR_ERR_NO_DOMAIN:
            return UnreachableError(
                f"no domain {self.domain!r}", where=where, fix="virsh list --all shows the domains"
            )
        if code == libvirt.VIR_ERR_OPERATION_INVALID:
            return UnreachableError(
                f"the domain is not running ({words})",
                where=where,
                fix=f"start it: virsh -c '{self.hypervisor}' start {self.domain}",
            )
        return UnreachableError(words, where=where, fix=hypervisors.connect_fix(self.hypervisor))

    def _on_event(self, _stream: Any, _events: int, _opaque: Any) -> None:
        """On libvirt's event thread: wake the reader on its own loop (unless that loop is gone)."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._readable.set)

    async def read(self) -> bytes:
        import libvirt

        while True:
            stream = self._stream
            if stream is None:
                raise BackingClosed("the console stream is closed")
            self._readable.clear()
            try:
                data = stream.recv(READ_SIZE)
            except libvirt.libvirtError as exc:
                raise BackingClosed(
                    f"the console stream broke: {hypervisors.error_words(exc)} "
                    "(domain stopped, console taken over, or hypervisor connection lost)"
                ) from None
            if data == -2:
                await self._readable.wait()
                continue
            if not data:
                raise BackingClosed("the domain's console closed (the domain stopped?)")
            return bytes(data)

    async def write(self, data: bytes) -> None:
        import libvirt

        view = memoryview(data)
        while view:
            if self._stream is None:
                raise BackingClosed("the console stream is closed")
            try:
                sent = self._stream.send(bytes(view))
            except libvirt.libvirtError as exc:
                raise BackingClosed(
                    f"the console stream broke: {hypervisors.error_words(exc)}"
                ) from None
            if sent == -2:
                await asyncio.sleep(0.01)
                continue
            view = view[sent:]

    async def send_break(self) -> None:
        raise break_refused(self)

    async def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        # At EOF the callback may be gone already, and abort may find a broken stream.
        with contextlib.suppress(Exception):
            stream.eventRemoveCallback()
        with contextlib.suppress(Exception):
            stream.abort()

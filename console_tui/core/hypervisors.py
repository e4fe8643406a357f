"""`[[hypervisor]]` entries: libvirt connections whose every domain becomes a target.

Naming rule: a domain's target is named by the domain (`web-01`). When a configured target or a
domain of another hypervisor has that name too, it is `HYPERVISOR.DOMAIN` (`hv1.web-01`), and
should even that be taken, the inventory's usual `-2`, `-3` follows. A domain whose name is not
a valid target name (letters, digits, `.`, `_`, `-`) is skipped.

libvirt's events (console streams, lifecycle) run on libvirtaio's asyncio loop in a thread of its
own, so one connection per hypervisor URI serves every loop and caller of the process; blocking
calls (connect, list, lookups) run in worker threads. Without libvirt-python (the `libvirt` extra),
or with a hypervisor unreachable, the hypervisor is shown as one placeholder target that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from console_tui.core._background import Background
from console_tui.core.config import NAME_RE, Hypervisor, Target
from console_tui.core.errors import UnreachableError

SOURCE = "libvirt"
LOOK_TIMEOUT = 10.0
"""seconds a look at one hypervisor may take before it counts as unreachable"""
INSTALL_FIX = (
    "install the libvirt extra: pip install 'console-tui[libvirt]' "
    "(it builds against Debian's libvirt-dev: apt-get install libvirt-dev pkg-config gcc)"
)
STATE_WORDS = {
    0: "no state",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutting down",
    5: "shut off",
    6: "crashed",
    7: "suspended",
}
LIFECYCLE_WORDS = {
    0: ("DEFINED", "the domain was defined"),
    1: ("UNDEFINED", "the domain was undefined"),
    2: ("STARTED", "the machine started"),
    3: ("SUSPENDED", "the machine was paused"),
    4: ("RESUMED", "the machine runs again"),
    5: ("STOPPED", "the machine stopped"),
    6: ("SHUTDOWN", "the machine shut down"),
    7: ("PMSUSPENDED", "the guest suspended itself"),
    8: ("CRASHED", "the guest crashed"),
}
"""libvirt's VIR_DOMAIN_EVENT_* lifecycle kinds, as (marker name, words)."""
STOPPED_DETAIL = {0: "shut down", 1: "destroyed", 2: "crashed", 3: "migrated", 5: "failed"}

LifecycleCallback = Callable[[str, str, str, dict[str, object]], None]
"""(domain, event, words, data), called on the loop that started the watch"""


# -- the library and its event loop -----------------------------------------------------------


def missing_library() -> str:
    """Why libvirt cannot be used in this process (empty when it can)."""
    try:
        import libvirt  # noqa: F401
        import libvirtaio  # noqa: F401
    except ImportError as exc:
        return f"libvirt-python is not installed ({exc})"
    return ""


def require_library(where: str) -> Any:
    """The libvirt module, or UnreachableError saying how to install it."""
    problem = missing_library()
    if problem:
        raise UnreachableError(problem, where=where, fix=INSTALL_FIX)
    import libvirt

    # libvirt prints every error to stderr unless told not to; ours are raised with words.
    libvirt.registerErrorHandler(_quiet, None)
    return libvirt


def _quiet(_context: Any, _error: Any) -> None:
    """Keep libvirt from printing errors the callers report themselves."""


_events: asyncio.AbstractEventLoop | None = None
_events_lock = threading.Lock()
_connections: dict[str, Any] = {}
_connecting: dict[str, threading.Lock] = {}


def event_loop() -> asyncio.AbstractEventLoop:
    """libvirt's event loop (libvirtaio), started once per process in a thread of its own."""
    global _events
    with _events_lock:
        if _events is None:
            import libvirtaio

            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                libvirtaio.virEventRegisterAsyncIOImpl(loop=loop)
                ready.set()
                loop.run_forever()

            threading.Thread(target=run, name="libvirt events", daemon=True).start()
            ready.wait()
            _events = loop
    return _events


def error_words(exc: BaseException) -> str:
    """A libvirt error's message, without its internal prefixes."""
    get = getattr(exc, "get_error_message", None)
    text = get() if callable(get) else None
    return str(text or exc).strip()


def _open_blocking(uri: str) -> Any:
    libvirt = require_library(uri)
    event_loop()
    lock = _connecting.setdefault(uri, threading.Lock())
    with lock:
        conn = _connections.get(uri)
        if conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                if conn.isAlive():
                    return conn
            _connections.pop(uri, None)
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            raise UnreachableError(
                f"cannot connect to the hypervisor: {error_words(exc)}",
                where=uri,
                fix=connect_fix(uri),
            ) from None
        with contextlib.suppress(libvirt.libvirtError):
            conn.setKeepAlive(5, 3)  # a lost SSH path is noticed in about 20 s
        with contextlib.suppress(libvirt.libvirtError):
            conn.registerCloseCallback(lambda *_: _connections.pop(uri, None), None)
        _connections[uri] = conn
        return conn


async def connection(uri: str) -> Any:
    """The process's connection to `uri`, opened (in a thread) when there is none alive."""
    return await asyncio.to_thread(_open_blocking, uri)


def disconnect(uri: str) -> None:
    """Close the process's connection to `uri`; the next call connects afresh."""
    conn = _connections.pop(uri, None)
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


def connect_fix(uri: str) -> str:
    if "+ssh" in urlsplit(uri).scheme:
        return (
            "check that the host is up and that `ssh` to it works with your key and known_hosts "
            "(add ?keyfile=PATH to the URI for another key); is libvirtd running there?"
        )
    return "is libvirtd (or virtqemud) running, and may this user use it? (virsh -c URI list)"


# -- targets ---------------------------------------------------------------------------------


def line_uri(hypervisor_uri: str, domain: str) -> str:
    """The console and control URI of one domain: `libvirt:///DOMAIN?uri=HYPERVISOR_URI`."""
    return f"libvirt:///{quote(domain, safe='')}?uri={quote(hypervisor_uri, safe='')}"


def split_line_uri(text: str) -> tuple[str, str]:
    """`(hypervisor URI, domain)` of a `libvirt:///DOMAIN?uri=...` URI (qemu:///system when the
    URI names no hypervisor)."""
    parts = urlsplit(text)
    from urllib.parse import unquote

    params = dict(parse_qsl(parts.query))
    return params.get("uri", "qemu:///system"), unquote(parts.path.lstrip("/"))


def domain_target(hypervisor: Hypervisor, domain: str, name: str, state: str) -> Target:
    uri = line_uri(hypervisor.uri, domain)
    return Target(
        name=name,
        console=uri,
        control=uri,
        group=hypervisor.group,
        description=f"domain {domain} on {hypervisor.name} ({state})",
        source=SOURCE,
        where=hypervisor.where,
    )


def placeholder(hypervisor: Hypervisor, problem: str) -> Target:
    """The target standing for a hypervisor whose domains cannot be listed, saying why."""
    return Target(
        name=hypervisor.name,
        console=line_uri(hypervisor.uri, ""),
        group=hypervisor.group,
        description=problem,
        source=SOURCE,
        capture=False,
        where=hypervisor.where,
    )


def _list_blocking(uri: str) -> list[tuple[str, str]]:
    libvirt = require_library(uri)
    conn = _open_blocking(uri)
    try:
        domains = conn.listAllDomains(0)
        return [(d.name(), STATE_WORDS.get(d.state()[0], "unknown")) for d in domains]
    except libvirt.libvirtError as exc:
        _connections.pop(uri, None)
        raise UnreachableError(
            f"cannot list domains: {error_words(exc)}", where=uri, fix=connect_fix(uri)
        ) from None


async def _list(uri: str) -> list[tuple[str, str]]:
    """The domains of `uri` and their states; a hypervisor that does not answer within
    LOOK_TIMEOUT (an SSH connect to a host that drops packets) is unreachable for this look."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(_list_blocking, uri), LOOK_TIMEOUT)
    except TimeoutError:
        raise UnreachableError(
            f"no answer within {LOOK_TIMEOUT:.0f} s", where=uri, fix=connect_fix(uri)
        ) from None


_last_seen: dict[str, list[tuple[str, str]]] = {}
"""Each hypervisor's domains at the last look that worked, kept while it is unreachable."""
problems: dict[str, UnreachableError] = {}
"""Why each hypervisor (by URI) could not be listed at the last look; absent when it could."""


async def scan(hypervisors: tuple[Hypervisor, ...], taken: set[str]) -> list[Target]:
    """Every domain of every hypervisor as a target (named by the rule above), and a placeholder
    for each hypervisor that cannot be listed, whose last known domains stay meanwhile."""
    looks = await asyncio.gather(*(_list(h.uri) for h in hypervisors), return_exceptions=True)
    listed: list[tuple[Hypervisor, list[tuple[str, str]]]] = []
    found: list[Target] = []
    for hypervisor, look in zip(hypervisors, looks, strict=True):
        if isinstance(look, BaseException):
            if not isinstance(look, UnreachableError | OSError):
                raise look
            problems[hypervisor.uri] = (
                look
                if isinstance(look, UnreachableError)
                else (
                    UnreachableError(
                        str(look), where=hypervisor.uri, fix=connect_fix(hypervisor.uri)
                    )
                )
            )
            found.append(placeholder(hypervisor, str(look)))
            look = _last_seen.get(hypervisor.uri, [])
        else:
            problems.pop(hypervisor.uri, None)
            _last_seen[hypervisor.uri] = look
        listed.append((hypervisor, look))
    counts: dict[str, int] = {}
    for _, domains in listed:
        for domain, _state in domains:
            counts[domain] = counts.get(domain, 0) + 1
    for hypervisor, domains in listed:
        for domain, state in domains:
            name = domain
            if name in taken or counts[domain] > 1:
                name = f"{hypervisor.name}.{domain}"
            if not NAME_RE.match(name):
                continue
            found.append(domain_target(hypervisor, domain, name, state))
    return found


# -- lifecycle events -------------------------------------------------------------------------


class LifecycleWatch(Background):
    """A hypervisor's domain lifecycle events (start, stop, crash, reboot), told on the loop
    that started the watch; it registers again after the connection comes back."""

    def __init__(self, uri: str, on_event: LifecycleCallback) -> None:
        self.uri = uri
        self.on_event = on_event
        self.registered = asyncio.Event()
        """set while the events are registered on a live connection"""

    def _task_name(self) -> str:
        return f"libvirt events {self.uri}"

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn = await connection(self.uri)
            except UnreachableError:
                await asyncio.sleep(5.0)
                continue
            ids = await asyncio.to_thread(self._register, conn, loop)
            self.registered.set()
            try:
                while conn.isAlive():
                    await asyncio.sleep(2.0)
            finally:
                self.registered.clear()
                with contextlib.suppress(Exception):
                    for callback_id in ids:
                        await asyncio.to_thread(conn.domainEventDeregisterAny, callback_id)

    def _register(self, conn: Any, loop: asyncio.AbstractEventLoop) -> list[int]:
        import libvirt

        def tell(domain: str, kind: str, words: str, data: dict[str, object]) -> None:
            with contextlib.suppress(RuntimeError):  # the watching loop is gone
                loop.call_soon_threadsafe(self.on_event, domain, kind, words, data)

        def lifecycle(_conn: Any, dom: Any, event: int, detail: int, _opaque: Any) -> None:
            kind, words = LIFECYCLE_WORDS.get(event, (f"EVENT{event}", f"libvirt event {event}"))
            data: dict[str, object] = {}
            if kind == "STOPPED" and detail in STOPPED_DETAIL:
                data["reason"] = STOPPED_DETAIL[detail]
            tell(dom.name(), kind, words, data)

        def reboot(_conn: Any, dom: Any, _opaque: Any) -> None:
            tell(dom.name(), "RESET", "the machine was reset", {})

        return [
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lifecycle, None
            ),
            conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, reboot, None),
        ]

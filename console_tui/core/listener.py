"""The concentrator: `listen://HOST:PORT`, where VMs with network "client" serial ports dial in.

Each inbound connection is framed by what its peer does: a peer that opens with telnet negotiation
(vSphere's network ports do) is read as telnet, anything else as raw bytes (QEMU 7.2 as a socket
client sends raw bytes even with telnet=on, so such a line carries no BREAK). A peer that offers
VMware's extension (option 232, core/vspc.py) is asked its VM name and UUID.

A connection is then matched to a target's `Link`: by VM UUID, else VM name, else the peer's
address, else a target that has the port to itself. One nobody claims waits, parked, and the Hub is
told of it (`set_stranger_hook`), so it can appear as a found target named after its peer.

vMotion: on VMOTION-BEGIN the Link answers GOAHEAD with a fresh secret; the new host's connection
that sends VMOTION-PEER with that secret becomes the Link's successor (anything else is closed,
unanswered); on VMOTION-COMPLETE the old connection's bytes are read to their end, then the new
one's, so the console reads one unbroken stream; on VMOTION-ABORT the old one stays.

Past 400 lines: the connection, the Link and the concentrator share one state machine (who owns a
connection, the vMotion in flight, the parked ones), which reads best in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hmac
import ipaddress
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from console_tui.core import vspc
from console_tui.core.backings import BackingClosed, ConsoleURI, parse_console_uri
from console_tui.core.backings._telnet import THEIR_OPTIONS, TelnetCodec
from console_tui.core.errors import UnreachableError

log = logging.getLogger(__name__)

SNIFF_SECONDS = 0.5
"""How long a new connection may stay quiet before it is taken as raw: a telnet peer negotiates
at once, a raw one (QEMU) may say nothing until its guest prints."""
HANDSHAKE_SECONDS = vspc.ANSWER_WITHIN
"""How long a peer that offered the VMware extension has to tell its VM name and UUID."""
DRAIN_SECONDS = 1.0
"""After a VMOTION-COMPLETE that came on the new connection, how long the old one may stay quiet
before it counts as finished (it normally just closes)."""
READ_SIZE = 4096
QUEUE_CHUNKS = 64
"""Reads a connection holds before it stops reading (TCP back-pressure then holds the peer)."""
PARKED_MAX = 256
"""Connections nobody has claimed yet, held at most; more are closed."""
CLOSE_TIMEOUT = 1.0


class _End(enum.Enum):
    END = "end"


END = _End.END


@dataclass(frozen=True)
class Selector:
    """Which dialling-in connections a target takes, from its URI: `?uuid=`, `?vm=`, `?peer=`,
    or none of them: the target has the port to itself and takes whoever dials in."""

    uuid: str = ""
    vm: str = ""
    peer: str = ""

    @classmethod
    def from_uri(cls, uri: ConsoleURI) -> Selector:
        peer = uri.params.get("peer", "")
        with contextlib.suppress(ValueError):
            peer = str(ipaddress.ip_address(peer))
        return cls(
            vspc.uuid_hex(uri.params.get("uuid", "").encode()), uri.params.get("vm", ""), peer
        )

    def score(self, line: InboundLine) -> int:
        """How well `line` fits (0: not at all); a UUID beats a name, beats an address, beats
        having the port to oneself."""
        if self.uuid:
            return 4 if line.uuid == self.uuid else 0
        if self.vm:
            return 3 if line.vm == self.vm else 0
        if self.peer:
            return 2 if line.peer == self.peer else 0
        return 1

    def describe(self) -> str:
        if self.uuid:
            return f"VM UUID {self.uuid}"
        if self.vm:
            return f"VM {self.vm!r}"
        if self.peer:
            return f"a connection from {self.peer}"
        return "any VM"


class InboundLine:
    """One dialled-in connection: its stream, framing and identity, read into a bounded queue."""

    def __init__(
        self, concentrator: Concentrator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.concentrator = concentrator
        self.reader = reader
        self.writer = writer
        peername = writer.get_extra_info("peername") or ("?", 0)
        self.peer: str = str(peername[0])
        self.peer_port: int = int(peername[1]) if len(peername) > 1 else 0
        self.codec: TelnetCodec | None = None
        self.vm = ""
        self.uuid = ""
        self.proxy = ""
        """The VM's DO-PROXY: direction (C: the VM's port is a client, S: a server) and URI."""
        self.queue: asyncio.Queue[bytes | _End] = asyncio.Queue(QUEUE_CHUNKS)
        self.identified = asyncio.Event()
        self.asked = False
        self.owner: Link | None = None
        self.draining = False
        self.finished = False
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._waiting: asyncio.Timeout | None = None

    @property
    def vspc(self) -> bool:
        """Whether the peer speaks VMware's extension (it offered WILL 232)."""
        return self.codec is not None and vspc.VMWARE_EXT in self.codec.theirs

    @property
    def label(self) -> str:
        who = f"{self.peer}:{self.peer_port}"
        return f"VM {self.vm} ({who})" if self.vm else who

    def frame(self, first: bytes) -> None:
        """Telnet if the peer opened with a telnet command, raw otherwise."""
        if first[:1] == b"\xff":
            self.codec = TelnetCodec(
                their_options=THEIR_OPTIONS | {vspc.VMWARE_EXT}, keep=frozenset({vspc.VMWARE_EXT})
            )

    def start(self, first: bytes) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._pump(first), name=f"inbound {self.label}"
        )

    async def _pump(self, first: bytes) -> None:
        """Read until the peer closes (or, while draining, goes quiet), then queue END."""
        try:
            chunk = first
            while True:
                if chunk:
                    await self._take(chunk)
                if self.finished or self.closed:
                    break
                try:
                    async with asyncio.timeout(None) as self._waiting:
                        if self.draining:
                            self.drain()
                        chunk = await self.reader.read(READ_SIZE)
                except (TimeoutError, OSError):
                    break
                finally:
                    self._waiting = None  # drain() reschedules only a read in progress
                if not chunk:
                    break
        finally:
            self.finished = True
            self.concentrator.line_ended(self)
            if not self.closed:
                await self.queue.put(END)

    def drain(self) -> None:
        """Read on only until the peer has been quiet for `DRAIN_SECONDS` (or closes)."""
        self.draining = True
        if self._waiting is not None and not self._waiting.expired():
            self._waiting.reschedule(asyncio.get_running_loop().time() + DRAIN_SECONDS)

    async def _take(self, chunk: bytes) -> None:
        """Queue the console bytes of one read; answer its telnet options and vSPC messages."""
        if self.codec is None:
            await self.queue.put(chunk)
            return
        data, answers = self.codec.decode(chunk)
        if answers:
            self.send(answers)
        if data:
            await self.queue.put(data)
        messages, self.codec.messages = self.codec.messages, []
        for _, payload in messages:
            if payload:
                self.concentrator.message(self, payload[0], payload[1:])

    def send(self, wire: bytes) -> None:
        """Bytes as they are (telnet commands, vSPC messages), without waiting."""
        if not self.closed and not self.writer.is_closing():
            self.writer.write(wire)

    async def write(self, data: bytes) -> None:
        """Console input, with telnet escaping when the line is telnet."""
        if self.closed or self.writer.is_closing():
            raise BackingClosed(f"{self.label}: the VM's connection is closed")
        if self.codec is not None:
            data = self.codec.encode(data)
        try:
            self.writer.write(data)
            await self.writer.drain()
        except OSError as exc:
            raise BackingClosed(f"{self.label}: {exc}") from exc

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.writer.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.writer.wait_closed()
        except TimeoutError:
            self.writer.transport.abort()
        except OSError:
            pass


class Link:
    """One target's hold on a concentrator: the VM's connection now and, while a vMotion is in
    flight, the new host's connection waiting for COMPLETE."""

    def __init__(self, concentrator: Concentrator, selector: Selector) -> None:
        self.concentrator = concentrator
        self.selector = selector
        self.line: InboundLine | None = None
        self.successor: InboundLine | None = None
        self.cookie = b""
        self.seq = b""
        self.completed = asyncio.Event()
        self.on_mark: Callable[[str], None] | None = None
        self._arrived: asyncio.Future[InboundLine] | None = None
        self.closed = False

    def _mark(self, text: str) -> None:
        if self.on_mark is not None:
            self.on_mark(text)

    def hand(self, line: InboundLine) -> None:
        """A matching connection arrived for this Link, which waits for one."""
        line.owner = self
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(line)

    async def wait_line(self) -> InboundLine:
        """The VM's connection, when it has dialled in (taken from the parked ones at once)."""
        line = self.concentrator.take(self)
        if line is None:
            self._arrived = asyncio.get_running_loop().create_future()
            line = await self._arrived
        self.line = line
        line.owner = self
        return line

    # -- vMotion ----------------------------------------------------------------------------

    def begin(self, line: InboundLine, seq: bytes) -> None:
        """VMOTION-BEGIN on the current connection: GOAHEAD with a fresh secret, or NOTNOW while
        a new host is connected for another one. A vMotion that never got its new host is over:
        its secret no longer counts."""
        if line is not self.line or self.successor is not None:
            line.send(vspc.message(vspc.VMOTION_NOTNOW, seq))
            return
        self.concentrator.vmotions.pop(self.cookie, None)
        secret = os.urandom(vspc.SECRET_BYTES)
        self.seq, self.cookie = seq, seq + secret
        self.completed.clear()
        self.concentrator.vmotions[self.cookie] = self
        line.send(vspc.message(vspc.VMOTION_GOAHEAD, seq + secret))
        self._mark(f"vMotion begins: {line.label} is moving to another host")

    def peer(self, line: InboundLine) -> None:
        """The new host's connection proved the secret: it waits for COMPLETE."""
        self.successor = line
        line.owner = self
        line.identified.set()
        line.send(vspc.message(vspc.VMOTION_PEER_OK, self.seq))

    def complete(self, line: InboundLine) -> None:
        """VMOTION-COMPLETE: the old connection is read to its end, then the new one."""
        old = self.line
        if self.successor is None or old is None:
            return
        self.concentrator.vmotions.pop(self.cookie, None)
        if line is old:
            old.finished = True  # nothing the old host sends after COMPLETE is the console's
        else:
            old.drain()
        self.completed.set()

    def abort(self, why: str = "the VM stays where it was") -> None:
        """VMOTION-ABORT (or the new connection went away): keep the old connection."""
        successor, self.successor = self.successor, None
        self.concentrator.vmotions.pop(self.cookie, None)
        self.cookie = self.seq = b""
        self.completed.clear()
        if successor is not None:
            asyncio.get_running_loop().create_task(successor.close())
            self._mark(f"vMotion aborted: {why}")

    # -- the console stream -----------------------------------------------------------------

    async def read(self) -> bytes:
        """Console bytes from the VM, across a vMotion in one unbroken stream."""
        while True:
            line = self.line
            if line is None or self.closed:
                raise BackingClosed("the VM's connection is closed")
            item = await line.queue.get()
            if not isinstance(item, _End):
                return item
            if self.successor is not None and not self.completed.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(vspc.ANSWER_WITHIN):
                        await self.completed.wait()
            if self.successor is None or not self.completed.is_set():
                raise BackingClosed(f"{line.label} closed the connection")
            self.line, self.successor = self.successor, None
            self.cookie = self.seq = b""
            self.completed.clear()
            await line.close()
            self._mark(f"vMotion complete: the console continues from {self.line.label}")

    async def write(self, data: bytes) -> None:
        if self.line is None:
            raise BackingClosed("no VM is connected")
        await self.line.write(data)

    async def close(self) -> None:
        self.closed = True
        self.concentrator.release(self)
        if self._arrived is not None and not self._arrived.done():
            self._arrived.cancel()
        for line in (self.line, self.successor):
            if line is not None:
                await line.close()
        self.line = self.successor = None


class Concentrator:
    """One listening socket that VMs dial into, and the Links of the targets it serves."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.links: list[Link] = []
        self.parked: list[InboundLine] = []
        self.vmotions: dict[bytes, Link] = {}
        self.refused = 0
        """Connections closed for a VMOTION-PEER whose secret matched no vMotion in flight."""
        self.accepted = 0
        self.loop = asyncio.get_running_loop()
        self.server: asyncio.Server | None = None

    @property
    def where(self) -> str:
        return f"listen: {self.host}:{self.port}"

    async def start(self) -> None:
        try:
            self.server = await asyncio.start_server(self._accept, self.host, self.port)
        except OSError as exc:
            raise UnreachableError(
                f"cannot listen: {exc.strerror or exc}",
                where=self.where,
                fix=(
                    f"another program has port {self.port} (ss -ltnp | grep :{self.port} shows "
                    "which): stop it, or pick another port for the concentrator and its targets"
                ),
            ) from None
        if self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Frame a new connection, let a vSPC peer say who it is, then match it."""
        self.accepted += 1
        line = InboundLine(self, reader, writer)
        try:
            async with asyncio.timeout(SNIFF_SECONDS):
                first = await reader.read(READ_SIZE)
            if not first:
                writer.close()
                return
        except TimeoutError:
            first = b""
        except OSError:
            writer.close()
            return
        line.frame(first)
        if line.codec is not None:
            await line._take(first)
            first = b""
        line.start(first)
        if line.vspc:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HANDSHAKE_SECONDS):
                    await line.identified.wait()
        if line.closed or line.finished or line.owner is not None:
            return  # gone, refused, or the new host of a vMotion
        self.arrive(line)

    def arrive(self, line: InboundLine) -> None:
        """Hand a new connection to the waiting target it fits best, else park it."""
        waiting = [link for link in self.links if link.line is None and not link.closed]
        best = max(waiting, key=lambda link: link.selector.score(line), default=None)
        if best is not None and best.selector.score(line) > 0:
            best.hand(line)
            return
        if len(self.parked) >= PARKED_MAX:
            log.warning(
                "%s: %d connections wait already; closing %s", self.where, PARKED_MAX, line.label
            )
            self.loop.create_task(line.close())
            return
        self.parked.append(line)
        if not any(link.selector.score(line) for link in self.links) and _stranger_hook is not None:
            _stranger_hook(self, line)

    def take(self, link: Link) -> InboundLine | None:
        """Register a Link; hand it the best-fitting parked connection, if one is there."""
        if link not in self.links:
            self.links.append(link)
        scored = [(link.selector.score(line), line) for line in self.parked if not line.finished]
        score, line = max(scored, key=lambda pair: pair[0], default=(0, None))
        if line is None or score == 0:
            return None
        self.parked.remove(line)
        line.owner = link
        return line

    def link(self, selector: Selector) -> Link:
        return Link(self, selector)

    def release(self, link: Link) -> None:
        if link in self.links:
            self.links.remove(link)
        self.vmotions = {k: v for k, v in self.vmotions.items() if v is not link}

    def line_ended(self, line: InboundLine) -> None:
        """A connection's peer closed it (or, draining, went quiet)."""
        if line in self.parked:
            self.parked.remove(line)
            self.loop.create_task(line.close())
        owner = line.owner
        if owner is not None and line is owner.successor and not owner.completed.is_set():
            owner.abort("the new host's connection closed")

    # -- the VMware extension ---------------------------------------------------------------

    def message(self, line: InboundLine, command: int, payload: bytes) -> None:
        """One VMware extension message from a peer."""
        if command == vspc.KNOWN_SUBOPTIONS_1:
            line.send(vspc.message(vspc.KNOWN_SUBOPTIONS_2, vspc.SUPPORTED))
            if not line.asked:
                line.asked = True
                line.send(vspc.message(vspc.GET_VM_VC_UUID) + vspc.message(vspc.GET_VM_NAME))
        elif command == vspc.DO_PROXY:
            direction = payload[:1]
            if direction in (b"C", b"S"):
                line.proxy = f"{direction.decode()} {vspc.printable(payload[1:])}"
                line.send(vspc.message(vspc.WILL_PROXY))
            else:
                line.send(vspc.message(vspc.WONT_PROXY))
        elif command == vspc.VM_VC_UUID:
            line.uuid = vspc.uuid_hex(payload)
            self._identified(line)
        elif command == vspc.VM_NAME:
            line.vm = vspc.printable(payload)
            self._identified(line)
        elif command == vspc.VMOTION_BEGIN:
            if line.owner is not None:
                line.owner.begin(line, payload)
            else:
                line.send(vspc.message(vspc.VMOTION_NOTNOW, payload))
        elif command == vspc.VMOTION_PEER:
            self._peer(line, payload)
        elif command == vspc.VMOTION_COMPLETE:
            if line.owner is not None:
                line.owner.complete(line)
        elif command == vspc.VMOTION_ABORT:
            if line.owner is not None:
                line.owner.abort()
        elif command not in vspc.SUPPORTED:
            line.send(vspc.message(vspc.UNKNOWN_SUBOPTION_RCVD_2, bytes((command,))))

    def _identified(self, line: InboundLine) -> None:
        if line.vm and line.uuid:
            line.identified.set()

    def _peer(self, line: InboundLine, cookie: bytes) -> None:
        """VMOTION-PEER: the new host of a vMotion in flight, if the secret is right; a wrong
        one gets no answer and no console: its connection is closed."""
        for known, link in list(self.vmotions.items()):
            if hmac.compare_digest(known, cookie) and link.successor is None and line.owner is None:
                if line in self.parked:
                    self.parked.remove(line)
                link.peer(line)
                return
        self.refused += 1
        line.identified.set()
        if _refused_hook is not None:
            _refused_hook(self, line)
        log.warning(
            "%s: refused %s: VMOTION-PEER with no vMotion of that secret", self.where, line.label
        )
        line.finished = True
        self.loop.create_task(line.close())

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for line in list(self.parked):
            await line.close()
        self.parked.clear()
        for link in list(self.links):
            await link.close()


_running: dict[tuple[str, int], tuple[Concentrator, asyncio.Task[None]]] = {}
_stranger_hook: Callable[[Concentrator, InboundLine], None] | None = None
_refused_hook: Callable[[Concentrator, InboundLine], None] | None = None


def set_hooks(
    stranger: Callable[[Concentrator, InboundLine], None] | None,
    refused: Callable[[Concentrator, InboundLine], None] | None = None,
) -> None:
    """Who hears of a connection no target claims (the Hub under `serve` adds a target for it),
    and of one refused for a VMOTION-PEER with a wrong secret (the Hub audits it)."""
    global _stranger_hook, _refused_hook
    _stranger_hook, _refused_hook = stranger, refused


async def concentrator(host: str, port: int) -> Concentrator:
    """The concentrator listening on host:port in this event loop, started if needed."""
    key = (host, port)
    running = _running.get(key)
    if running is None or running[0].loop is not asyncio.get_running_loop():
        conc = Concentrator(host, port)
        task = asyncio.get_running_loop().create_task(conc.start())
        running = _running[key] = (conc, task)
    conc, task = running
    try:
        await asyncio.shield(task)
    except UnreachableError:
        _running.pop(key, None)
        raise
    return conc


def parked_for(host: str, port: int, selector: Selector) -> bool:
    """Whether a connection that `selector` takes waits, parked, on host:port in this loop."""
    running = _running.get((host, port))
    if running is None or running[0].loop is not asyncio.get_running_loop():
        return False
    return any(selector.score(line) and not line.finished for line in running[0].parked)


def running() -> list[Concentrator]:
    loop = asyncio.get_running_loop()
    return [conc for conc, _ in _running.values() if conc.loop is loop]


async def close_all() -> None:
    """Stop every concentrator of this event loop and close what dialled in."""
    loop = asyncio.get_running_loop()
    for key, (conc, _) in list(_running.items()):
        if conc.loop is loop:
            _running.pop(key, None)
            await conc.close()


def places(concentrators: tuple[str, ...], consoles: list[str]) -> list[str]:
    """Every `listen://HOST:PORT` a Hub with these settings and target consoles listens on."""
    found = dict.fromkeys(concentrators)
    for console in consoles:
        if console.startswith("listen://"):
            uri = parse_console_uri(console)
            found.setdefault(f"listen://{uri.host}:{uri.port}")
    return list(found)


def claims(console: str, concentrator: Concentrator, line: InboundLine) -> bool:
    """Whether a target with this console takes `line`, which dialled into `concentrator`."""
    if not console.startswith("listen://"):
        return False
    uri = parse_console_uri(console)
    here = (uri.host, uri.port) == (concentrator.host, concentrator.port)
    return here and Selector.from_uri(uri).score(line) > 0


def stranger_console(concentrator: Concentrator, line: InboundLine) -> tuple[str, str]:
    """The (name, console URI) of a found target for a connection no target claims: named
    after its VM, or its peer's address for a raw line, and matched by UUID or address."""
    base = f"listen://{concentrator.host}:{concentrator.port}"
    if line.uuid or line.vm:
        name = _target_name(line.vm or f"vm-{line.uuid[:12]}")
        selector = {"uuid": line.uuid} if line.uuid else {"vm": line.vm}
        return name, f"{base}?{urlencode(selector)}"
    return _target_name(f"peer-{line.peer}"), f"{base}?peer={line.peer}"


def _target_name(text: str) -> str:
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in text).strip("-.")
    return (name or "vm")[:64]

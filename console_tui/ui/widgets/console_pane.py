"""One open console: its terminal view, status line and the viewer it holds on the Hub.

The pane starts the workers that read the session's events and write what the operator types; they
belong to the pane, so closing its tab cancels them and detaches the viewer (other viewers keep the
session). Workers only post messages; the handlers here own the state. Every console action (BREAK,
SysRq, NMI, keys, the write lock) is a method here that goes through the Hub for the pane's viewer
and announces what was sent or why not; the screen only chooses the pane and asks first.
Past 400 lines: the workers, the event handlers and the actions share the pane's one viewer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from functools import partial

from rich.style import Style
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from console_tui.core import keys
from console_tui.core.api import LOCK_REQUESTED, Event, EventKind, HubAPI, Viewer
from console_tui.core.backings import parse_console_uri
from console_tui.core.config import Role, Settings, Target
from console_tui.core.errors import ConsoleError
from console_tui.ui.messages import Announce, TargetChanged
from console_tui.ui.widgets.reading_view import ReadingView
from console_tui.ui.widgets.status_line import SessionFacts, StatusLine
from console_tui.ui.widgets.terminal import TerminalView

LINE_BACKINGS = ("serial", "rfc2217")


HAND_OVER_HINT = "hand it over: Ctrl+] then 'Hand over write lock'"
"""How an app user hands the write lock over (the Hub's notice names no client's keys)."""


def line_down_words(name: str, facts: SessionFacts) -> str:
    """What the console area says while the line is down: why, what to do, what happens next."""
    if facts.state == "waiting":
        then = "It connects by itself once the line is free."
    else:
        then = (
            "Trying again by itself every few seconds; Ctrl+] then 'Reconnect' tries now. "
            "What the console showed last stays below."
        )
    return f"{name} is {facts.state}\n{facts.detail}\n{then}"


class ConsolePane(Vertical):
    """A live console of one target, attached as one viewer."""

    DEFAULT_CSS = """
    ConsolePane {
        height: 1fr;
        TerminalView { height: 1fr; }
        ReadingView { height: 10; }
        #line-down {
            height: auto;
            padding: 0 1;
            border: tall $error;
            color: $foreground;
            background: $surface;
        }
    }
    """

    class SessionEvent(Message):
        """An event from the session, posted by the reader worker."""

        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    class Attached(Message):
        """The reader worker attached: `viewer` is ours until the pane closes."""

        def __init__(self, viewer: Viewer) -> None:
            super().__init__()
            self.viewer = viewer

    def __init__(
        self,
        hub: HubAPI,
        target: Target,
        settings: Settings,
        *,
        who: str,
        screen_reader: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.hub = hub
        self.target = target
        self.settings = settings
        self.who = who
        self.screen_reader = screen_reader
        self.viewer: Viewer | None = None
        self._outbox: asyncio.Queue[tuple[bytes, bool]] = asyncio.Queue()
        self._unhandled = 0
        """Output events posted to this pane and not yet drawn."""
        self._reader: Worker[None] | None = None
        self._ready = asyncio.Event()
        self.composed = asyncio.Event()
        """Set once the pane's widgets are mounted (`terminal` and the rest can be queried)."""
        self._drawn = asyncio.Event()
        status = hub.status(target.name)
        baud = parse_console_uri(target.console).params.get("baud", target.baud)
        line = status.line or (f"{baud} 8N1" if status.backing in LINE_BACKINGS else "")
        self.facts = SessionFacts(
            target=target.name,
            backing=status.backing,
            line=line,
            state="connecting",
            you=who,
        )

    def compose(self) -> ComposeResult:
        down = Static("", id="line-down", markup=False)
        down.display = False
        yield down
        terminal = TerminalView(
            key_style=self.target.keys,
            scrollback_lines=self.settings.scrollback_lines,
            watch_sac=self.target.os == "windows",
            draw_cursor=not self.screen_reader,
            reading=self.screen_reader,
            id="terminal",
        )
        terminal.send = self.type_bytes  # at once, not behind the pane's messages
        yield terminal
        reading = ReadingView(terminal.reading_text, id="reading")
        reading.border_title = "reading view: whole lines"
        reading.display = False
        yield reading
        yield StatusLine(self.facts, id="status")

    @property
    def terminal(self) -> TerminalView:
        return self.query_one(TerminalView)

    @property
    def reading_view(self) -> ReadingView:
        return self.query_one(ReadingView)

    def on_mount(self) -> None:
        self.composed.set()
        self._title_terminal()
        self.call_after_refresh(self._paint_in_theme)
        self.app.theme_changed_signal.subscribe(
            self, lambda _theme: self.call_after_refresh(self._paint_in_theme)
        )
        self._reader = self._read_session()
        self._write_outbox()

    def _paint_in_theme(self) -> None:
        """Console cells in default colours take the theme's (black on high contrast)."""
        if not self.is_attached:  # closed before the refresh this waited for
            return
        terminal = self.terminal
        style = terminal.rich_style
        terminal.painter.set_base(Style(color=style.color, bgcolor=style.bgcolor))
        terminal.refresh()

    # -- workers: they only post messages -----------------------------------------------------

    @work(group="session", exit_on_error=False)
    async def _read_session(self) -> None:
        try:
            viewer = await self.hub.attach(
                self.target.name, who=self.who, role=Role.ADMIN, source="local", write=True
            )
        except ConsoleError as exc:
            self.post_message(self.SessionEvent(Event(EventKind.NOTICE, text=str(exc))))
            return
        self.post_message(self.Attached(viewer))
        try:
            while True:
                # One message per batch, and the next only once this one is drawn: while the
                # app is busy, output waits in the viewer's bounded queue, which falls back to a
                # fresh snapshot when full, so typed keys never queue behind a flood.
                events = await viewer.batch()
                self._drawn.clear()
                self._unhandled += sum(event.kind == EventKind.OUTPUT for event in events)
                for event in events:
                    self.post_message(self.SessionEvent(event))
                if events[-1].kind == EventKind.DETACHED:
                    return
                await self._drawn.wait()
        finally:
            await asyncio.shield(self.hub.detach(viewer))

    @work(group="writer", exit_on_error=False)
    async def _write_outbox(self) -> None:
        while True:
            await self._ready.wait()
            data, paced = await self._outbox.get()
            while not paced and not self._outbox.empty():
                more, more_paced = self._outbox.get_nowait()
                if more_paced:
                    await self._write(data, False)
                    data, paced = more, True
                    break
                data += more
            await self._write(data, paced)

    async def _write(self, data: bytes, paced: bool) -> None:
        if self.viewer is None:
            self.post_message(Announce(f"{self.target.name}: not attached yet; nothing sent"))
            return
        try:
            await self.hub.write(self.viewer, data, paced=paced)
            if not paced:  # output posted or queued until now was read before these bytes
                self.terminal.sent(self._unhandled + self.viewer.queue.qsize())
        except ConsoleError as exc:
            self.post_message(Announce(f"{self.target.name}: {exc.what}", bell=True))

    # -- handlers own the state ---------------------------------------------------------------

    @on(Attached)
    def _attached(self, message: Attached) -> None:
        viewer = self.viewer = message.viewer
        self._ready.set()
        columns, rows = self.terminal.screen_model.size
        self._show(you=viewer.label, transcript=self.hub.status(self.target.name).transcript)
        self._size_later(viewer, columns, rows)

    def _size_later(
        self, viewer: Viewer, columns: int, rows: int, *, exit_on_error: bool = True
    ) -> None:
        """Tell the Hub this view's size in a worker; a newer size supersedes one not sent yet
        (the work is made as the worker starts, so a superseded one leaves nothing unawaited)."""
        self.run_worker(
            partial(self._size_session, viewer, columns, rows),  # type: ignore[arg-type]
            group="resize",
            exclusive=True,
            exit_on_error=exit_on_error,
        )  # (Textual calls a partial of an async function as it does the function)

    async def _size_session(self, viewer: Viewer, columns: int, rows: int) -> None:
        """Tell the Hub this view's size, then draw the session's model if it has that size."""
        await self.hub.resize(viewer, columns, rows)
        self._share_session_model(columns, rows)

    def _share_session_model(self, columns: int, rows: int) -> None:
        """With the Hub in this process and the session's screen sized for this view (its write
        lock is ours), the view draws the session's screen model instead of feeding one of its
        own the same bytes (half the emulation). Otherwise, and over the wire, it keeps its own."""
        from console_tui.core.hub import Hub

        session = self.hub.session(self.target.name) if isinstance(self.hub, Hub) else None
        if session is None:
            return
        terminal = self.terminal
        if session.screen.size == (columns, rows):
            if terminal.screen_model is not session.screen:
                terminal.share_model(session.screen)
            else:
                terminal.sync_now()
        elif terminal.shared:
            terminal.own_model(session.screen.snapshot(history=True))

    @on(SessionEvent)
    def _session_event(self, message: SessionEvent) -> None:
        self._handle(message.event)
        self._drawn.set()

    def _handle(self, event: Event) -> None:
        kind = event.kind
        if kind in (EventKind.OUTPUT, EventKind.SNAPSHOT):
            if kind == EventKind.OUTPUT:
                self._unhandled -= 1
                self.terminal.feed(event.data)
            else:
                self.terminal.reset(event.data)
            if self.reading_view.display:
                self.reading_view.changed()
        elif kind == EventKind.STATE:
            if (event.text, event.detail) != (self.facts.state, self.facts.detail):
                self._show(state=event.text, detail=event.detail)
                self._refresh_line()
                why = f": {event.detail}" if event.detail else ""
                if event.text == "connected":
                    why = f"; {self.facts.lock_words}"
                self.post_message(Announce(f"{self.target.name}: {event.text}{why}"))
                self.post_message(TargetChanged(self.target.name))
        elif kind == EventKind.LOCK:
            if event.text != self.facts.writer:
                self._show(writer=event.text)
                if self.facts.state == "connected":  # else the state's announcement says it
                    self.post_message(Announce(f"{self.target.name}: {self.facts.lock_words}"))
        elif kind == EventKind.VIEWERS:
            self._show(viewers=event.text)
        elif kind == EventKind.NOTICE:
            hint = f" ({HAND_OVER_HINT})" if event.detail == LOCK_REQUESTED else ""
            self._refresh_line()
            self.post_message(Announce(f"{self.target.name}: {event.text}{hint}", bell=True))
        elif kind == EventKind.DETACHED:
            self.viewer = None
            self._ready.clear()
            self._show(state="detached")
            self.post_message(Announce(f"{self.target.name}: detached: {event.text}", bell=True))

    def _show(self, **changes: object) -> None:
        self.facts = self.facts.update(**changes)
        if self.is_mounted:
            self.query_one(StatusLine).show(self.facts)
            down = self.query_one("#line-down", Static)
            down.display = self.facts.line_down
            if self.facts.line_down:
                down.update(line_down_words(self.target.name, self.facts))

    @on(TerminalView.SacPrompt)
    def _sac_prompt(self, message: TerminalView.SacPrompt) -> None:
        message.stop()
        self._show(sac_prompt=message.up)
        if message.up:
            self.post_message(Announce(f"{self.target.name}: SAC> prompt: arrow keys are not sent"))

    @on(TerminalView.Resized)
    def _resized(self, message: TerminalView.Resized) -> None:
        message.stop()
        if self.viewer is not None:
            self._size_later(self.viewer, message.columns, message.rows, exit_on_error=False)

    # -- actions the screen asks for -----------------------------------------------------------

    def type_bytes(self, data: bytes, *, paced: bool = False) -> None:
        """Queue bytes for the console, in order with what the operator types."""
        self._outbox.put_nowait((data, paced))

    def paste_bytes(self, text: str) -> bytes:
        """What a paste of `text` sends: CR line ends, bracketed when the guest asked for it."""
        data = text.replace("\r\n", "\r").replace("\n", "\r").encode("utf-8", "surrogateescape")
        if self.terminal.screen_model.bracketed_paste:
            data = b"\x1b[200~" + data + b"\x1b[201~"
        return data

    def paste(self, text: str) -> None:
        self.type_bytes(self.paste_bytes(text), paced=True)
        self.post_message(Announce(f"{self.target.name}: pasting {len(text)} characters, paced"))

    def act(self, words: str, call: Callable[[Viewer], Awaitable[object]]) -> None:
        """Run one Hub action for our viewer in a worker and announce what was sent (or why not)."""
        self._act(words, call)

    @work(group="actions", exit_on_error=False)
    async def _act(self, words: str, call: Callable[[Viewer], Awaitable[object]]) -> None:
        if self.viewer is None:
            self.post_message(
                Announce(f"{self.target.name}: not attached; {words} not sent", bell=True)
            )
            return
        try:
            said = await call(self.viewer)
        except (ConsoleError, ValueError) as exc:
            what = exc.what if isinstance(exc, ConsoleError) else str(exc)
            self.post_message(Announce(f"{self.target.name}: {words} failed: {what}", bell=True))
        else:
            # An action that says what it did (SysRq names its path) is announced in its words.
            done = said if isinstance(said, str) and said else f"{words} sent"
            self.post_message(Announce(f"{self.target.name}: {done}"))

    def toggle_reading_view(self) -> str:
        """Whole lines or the screen: in screen-reader mode the console itself switches between
        them (so output is written once); otherwise the reading view shows beside the console
        (and takes the focus) or hides. What happened, in words."""
        terminal = self.terminal
        if self.screen_reader:
            terminal.set_reading(not terminal.reading)
            self._title_terminal()
            terminal.focus()
            if terminal.reading:
                return "the console shows whole lines (F12: its screen)"
            return "the console shows its screen (F12: whole lines)"
        reading = self.reading_view
        reading.display = not reading.display
        terminal.keep_reading_text(bool(reading.display))
        if reading.display:
            reading.sync_now()
            reading.focus()
            return "reading view; Ctrl+F6 goes to the console"
        return "reading view hidden"

    def _title_terminal(self) -> None:
        shows = ": whole lines" if self.terminal.reading else ""
        self.terminal.border_title = f"{self.target.name} console{shows}"

    # -- console actions ------------------------------------------------------------------------

    def unavailable(self, action: str) -> str:
        """Why `action` cannot be done on this console now, or an empty string."""
        if action == "send_break":
            capability = self.hub.can_break(self.target.name)
        elif action == "sysrq":
            capability = self.hub.can_sysrq(self.target.name)
        elif action in ("nmi", "reset"):
            capability = self.hub.can_control(self.target.name)
        elif action == "baud":
            capability = self.hub.status(self.target.name).can_set_baud
        elif action == "sac" and self.target.os != "windows":
            return 'SAC is for Windows targets: set os = "windows" on the target'
        elif action in ("function_keys", "sync_size", "paste", "sac"):
            capability = self.hub.can_write(self.target.name)
        elif action.startswith(("power:", "boot:")):
            return self._not_offered(action)
        else:
            return ""
        return "" if capability.ok else capability.reason

    def _not_offered(self, action: str) -> str:
        """Why the control cannot do `power:ACTION` or `boot:DEVICE`, or an empty string."""
        capability = self.hub.can_control(self.target.name)
        if not capability.ok:
            return capability.reason
        kind, _, what = action.partition(":")
        status = self.hub.status(self.target.name)
        offered = status.power_actions if kind == "power" else status.boot_overrides
        if what in offered:
            return ""
        scheme = status.control.split(":", 1)[0]
        if kind == "boot":
            return f"the {scheme} control has no one-shot boot override (IPMI has)"
        return f"the {scheme} control cannot power {what}" + (
            " (a QEMU that quit cannot be started over QMP)" if scheme == "qmp" else ""
        )

    def power(self, action: str) -> None:
        self.act(f"power {action}", lambda viewer: self.hub.power(viewer, action))

    def boot_override(self, device: str) -> None:
        self.act(f"next boot: {device}", lambda viewer: self.hub.boot_override(viewer, device))

    def send_sysrq(self, sysrq_keys: str) -> None:
        self.act(f"SysRq {sysrq_keys}", lambda viewer: self.hub.sysrq(viewer, sysrq_keys))

    def send_break(self) -> None:
        self.act("BREAK", self.hub.send_break)

    def nmi(self) -> None:
        self.act("NMI", self.hub.nmi)

    def set_baud(self, baud: int) -> None:
        """Change the terminal server port's rate; the status line shows what it confirmed."""

        async def call(viewer: Viewer) -> None:
            self.post_message(self.LineSet(await self.hub.set_baud(viewer, baud)))

        self.act(f"baud rate {baud}", call)

    class LineSet(Message):
        """The line's settings changed, in words (posted by the action's worker)."""

        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    @on(LineSet)
    def _line_set(self, message: LineSet) -> None:
        self._show(line=message.line)

    def _refresh_line(self) -> None:
        """The line as the Hub knows it now (a terminal server confirmed it, or another
        operator changed it)."""
        if line := self.hub.status(self.target.name).line:
            self._show(line=line)

    def reset(self) -> None:
        self.act("Reset", self.hub.reset)

    def send_key(self, key: str) -> None:
        """A named key (`f8`, `esc`, `up`) through the Hub, or literal text (`e`) typed."""
        if key.lower() in keys.KEY_NAMES or key.lower() in ("delete", "insert", "esc"):
            self.act(f"key {key}", lambda viewer: self.hub.send_keys(viewer, [key.lower()]))
        else:
            self.type_bytes(key.encode())
            self.post_message(Announce(f"{self.target.name}: typed {key}"))

    def boot_menu(self, action: str, value: str = "") -> None:
        """Reset into the boot menu (`hold`, value grub or firmware), or a GRUB helper as keys."""
        if action == "hold":
            self.act(f"reset into the {value} boot menu", lambda v: self.hub.boot_menu(v, value))
        else:
            words = f"boot menu: {action} {value}".strip()
            self.act(words, lambda v: self.hub.boot_keys(v, action, value))

    def sync_size(self) -> None:
        """Tell the guest this console's size: `stty rows R cols C`, typed."""
        columns, rows = self.terminal.screen_model.size
        self.act(
            f"stty rows {rows} cols {columns}",
            lambda viewer: self.hub.sync_size(viewer, columns, rows),
        )

    def request_lock(self, *, take: bool = False) -> None:
        if take:
            self.act("take the write lock", self.hub.take_lock)
        else:
            self.act("write lock request", self.hub.request_lock)

    def hand_over_lock(self) -> None:
        self.act("hand over the write lock", self.hub.hand_over)

    async def reconnect(self) -> None:
        """Drop the console line and connect again now; when not attached, attach again."""
        if self.viewer is not None:
            self.act("reconnect", self.hub.reconnect)
            return
        await self._stop_reader()
        self._reader = self._read_session()
        self.post_message(Announce(f"{self.target.name}: attaching again"))

    async def close(self) -> None:
        """Cancel the workers and detach; the session lives on for other viewers."""
        await self._stop_reader()
        self.workers.cancel_node(self)

    async def _stop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await reader.wait()
        self.viewer = None
        self._ready.clear()

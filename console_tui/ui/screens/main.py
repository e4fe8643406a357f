"""The main screen: the inventory on the left, one tab per open console on the right.

Every console action is bound here once, as a method the bindings, the command palette and the
dialogs all call: it picks the active tab's pane, asks first where an action needs it, and the pane
carries it out through the Hub. Past 400 lines: one method per action of the help and palette
lists, with the capability rules and the questions asked first; the work is in the pane, and how
the target list makes room on small terminals is in _target_list.py.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static, TabbedContent, TabPane

from console_tui.core import keys
from console_tui.core.api import HubAPI
from console_tui.ui.dialogs._base import Dialog
from console_tui.ui.dialogs.baud import BaudDialog
from console_tui.ui.dialogs.confirm import ConfirmDialog
from console_tui.ui.dialogs.function_keys import FunctionKeysDialog
from console_tui.ui.dialogs.paste import PasteDialog
from console_tui.ui.dialogs.sac import SacDialog
from console_tui.ui.dialogs.search import SearchDialog
from console_tui.ui.dialogs.sysrq import SysRqDialog
from console_tui.ui.dialogs.transcript import TranscriptDialog
from console_tui.ui.messages import Announce, OpenTarget, TargetChanged
from console_tui.ui.screens._target_list import TargetListLayout
from console_tui.ui.screens.help import (
    COPY_AND_PASTE,
    INSIDE_CONSOLE,
    MOVING,
    HelpScreen,
    HelpSection,
    own_bindings,
)
from console_tui.ui.widgets.console_pane import ConsolePane
from console_tui.ui.widgets.footer import KeysFooter
from console_tui.ui.widgets.inventory import Inventory
from console_tui.ui.widgets.terminal import TerminalView

if TYPE_CHECKING:
    from console_tui.ui.app import ConsoleApp

WELCOME = (
    "Choose a target on the left and press Enter to open its console.\n\n"
    "In a console every key goes to the machine, except Ctrl+F6 (leave the console) and "
    "Ctrl+] (command palette: every action by name). F1 lists all keys."
)
NEEDS_PANE = {
    "enter_console",
    "sysrq",
    "send_break",
    "nmi",
    "reset",
    "function_keys",
    "sac",
    "search",
    "sync_size",
    "close_tab",
    "open_transcript",
    "copy",
    "copy_mode",
    "paste",
    "reading_view",
    "baud",
}


POWER_DETAIL = {
    "soft-off": "Presses the power button: the OS shuts down if it listens (ACPI).",
    "off": "Cuts the power at once (a QEMU quits): unsaved data in the guest is lost.",
    "cycle": "Off, then on again: unsaved data in the guest is lost.",
}


class MainScreen(TargetListLayout, Screen[None]):
    """Inventory, tabbed live consoles, the announcement line and the footer."""

    CSS_PATH = "main.tcss"
    BINDINGS = [
        Binding("f1", "help", "Help", id="main.help"),
        Binding("f2", "sysrq", "SysRq", id="main.sysrq"),
        Binding("f3", "function_keys", "Keys", id="main.function_keys"),
        Binding("f4", "sac", "SAC", id="main.sac"),
        Binding("f5", "send_break", "BREAK", id="main.send_break"),
        Binding("f6", "toggle_targets", "Target list", id="main.toggle_targets"),
        Binding("f7", "search", "Search", id="main.search"),
        Binding("f8", "nmi", "NMI", id="main.nmi"),
        Binding("f9", "reset", "Reset", id="main.reset"),
        Binding("f10", "sync_size", "Sync size", id="main.sync_size"),
        Binding("f12", "reading_view", "Reading view", id="main.reading_view"),
        Binding("ctrl+f6", "enter_console", "Console", id="main.enter_console"),
        Binding("ctrl+w", "close_tab", "Close tab", id="main.close_tab"),
        Binding("ctrl+l", "inventory", "Go to targets", id="main.inventory", show=False),
    ]

    def __init__(self, hub: HubAPI, *, who: str, screen_reader: bool = False) -> None:
        super().__init__()
        self.hub = hub
        self.who = who
        self.screen_reader = screen_reader
        self.last_search = ""
        self._pane_ids: dict[str, str] = {}
        self._ids = itertools.count(1)

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Inventory(self.hub, probe=self.console_app.probe, id="inventory")
            with Vertical(id="consoles"):
                yield Static(WELCOME, id="welcome")
                yield TabbedContent(id="tabs")
        yield Static("", id="announce", markup=False)
        yield KeysFooter()

    @property
    def console_app(self) -> ConsoleApp:
        return cast("ConsoleApp", self.app)

    def on_mount(self) -> None:
        self.query_one("#tabs").display = False
        self.query_one(Inventory).target_tree.focus()

    def on_screen_resume(self) -> None:
        """Back from a dialog: the real cursor goes back to the control that has focus again."""
        follow_focus = getattr(self.app, "follow_focus", None)
        if follow_focus is not None:
            follow_focus()

    # -- tabs -------------------------------------------------------------------------------

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one("#tabs", TabbedContent)

    @property
    def active_pane(self) -> ConsolePane | None:
        pane = self.tabs.active_pane
        if pane is None:
            return None
        found = pane.query(ConsolePane)
        return found.first(ConsolePane) if found else None

    def pane_of(self, name: str) -> ConsolePane | None:
        pane_id = self._pane_ids.get(name)
        if pane_id is None:
            return None
        found = self.query(f"#{pane_id} ConsolePane")
        return found.first(ConsolePane) if found else None

    @on(OpenTarget)
    async def _open_target(self, message: OpenTarget) -> None:
        await self.open_target(message.name)

    async def open_target(self, name: str) -> ConsolePane:
        """Open the target's console in a new tab, or go to its tab when it is open."""
        pane = self.pane_of(name)
        if pane is None:
            target = self.hub.target(name)
            pane_id = f"console-{next(self._ids)}"
            self._pane_ids[name] = pane_id
            pane = ConsolePane(
                self.hub,
                target,
                self.console_app.config.settings,
                who=self.who,
                screen_reader=self.screen_reader,
            )
            self.query_one("#welcome").display = False
            self.tabs.display = True
            await self.tabs.add_pane(TabPane(name, pane, id=pane_id))
            # The tab's mount is awaited, not the pane's own widgets inside it: on a busy loop
            # they could still be on their way.
            await pane.composed.wait()
        self.tabs.active = self._pane_ids[name]
        pane.terminal.focus()
        self.lay_out_targets()
        self.refresh_bindings()
        return pane

    async def action_close_tab(self) -> None:
        """Close the active tab: its viewer detaches, the session stays for other viewers."""
        pane = self.active_pane
        if pane is None:
            return
        name = pane.target.name
        await pane.close()
        pane_id = self._pane_ids.pop(name)
        await self.tabs.remove_pane(pane_id)
        self.announce(f"{name}: tab closed (the session stays for other viewers)")
        self.lay_out_targets()
        if not self._pane_ids:
            self.tabs.display = False
            self.query_one("#welcome").display = True
            self.query_one(Inventory).target_tree.focus()
        elif self.active_pane is not None:
            self.active_pane.terminal.focus()
        self.refresh_bindings()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self) -> None:
        self.refresh_bindings()

    def action_enter_console(self) -> None:
        pane = self.active_pane
        if pane is not None:
            pane.terminal.focus()

    @on(TerminalView.Left)
    def _left_console(self, message: TerminalView.Left) -> None:
        message.stop()
        self.tabs.query_one("Tabs").focus()
        self.announce("left the console: Tab moves between controls, Ctrl+F6 goes back in")

    @on(TerminalView.Pasted)
    def _pasted(self, message: TerminalView.Pasted) -> None:
        message.stop()
        self.paste_text(message.text)

    # -- announcements ------------------------------------------------------------------------

    @on(Announce)
    def _announce(self, message: Announce) -> None:
        message.stop()
        self.announce(message.text, bell=message.bell)

    def announce(self, text: str, *, bell: bool = False) -> None:
        """Show one short line in the fixed announcement place (what a screen reader reads)."""
        self.query_one("#announce", Static).update(text)
        if bell and self.console_app.config.settings.bell:
            self.app.bell()

    @on(TargetChanged)
    def _target_changed(self, message: TargetChanged) -> None:
        message.stop()
        self.query_one(Inventory).refresh_status(message.name)

    # -- capabilities: disabled with a reason, never hidden ---------------------------------

    def unavailable(self, action: str) -> str:
        """Why `action` cannot be done on the active target now, or an empty string."""
        pane = self.active_pane
        if pane is None:
            return "open a target first" if action in NEEDS_PANE else ""
        return pane.unavailable(action)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Inside a console the screen's keys go to the guest, so they are not offered; outside,
        an action the target cannot do is shown disabled (and its key says why)."""
        if self.is_mounted and isinstance(self.focused, TerminalView):
            return False
        if action in NEEDS_PANE and self.is_mounted and self.unavailable(action):
            return None
        return True

    def on_key(self, event: events.Key) -> None:
        """A key whose action is unavailable says why on the announcement line (a disabled
        binding would otherwise do nothing at all)."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if binding.action in NEEDS_PANE and self.check_action(binding.action, ()) is None:
                event.stop()
                self.refuse(binding.description, self.unavailable(binding.action))
                return

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Inside a console the footer says where every other key goes."""
        footer = self.query_one(KeysFooter)
        pane = self.active_pane
        inside = isinstance(event.widget, TerminalView) and pane is not None
        footer.inside_words = f"other keys go to {pane.target.name}" if inside and pane else ""
        footer.more_words = "+{count} more" if inside else "+{count} more: F1"

    def refuse(self, what: str, reason: str) -> None:
        """Say why an action cannot be done: on the announcement line, and as a notice unless the
        screen reader already reads that line."""
        self.announce(f"{what} unavailable: {reason}", bell=True)
        if not self.screen_reader:
            self.notify(reason, title=f"{what} unavailable", severity="warning")

    def _pane_for(self, what: str, action: str) -> ConsolePane | None:
        reason = self.unavailable(action)
        if reason:
            self.refuse(what, reason)
            return None
        return self.active_pane

    # -- actions ------------------------------------------------------------------------------

    def action_sysrq(self) -> None:
        pane = self.active_pane
        if pane is None:
            self.refuse("SysRq", "open a target first")
            return
        name = pane.target.name
        keyboard = not self.hub.can_break(name).ok and self.hub.can_sysrq(name).ok
        way = (
            ""
            if not keyboard
            else "This line cannot carry a BREAK: each key goes as Alt+SysRq+key on the "
            "machine's keyboard, through its control."
        )
        self.app.push_screen(
            SysRqDialog(name, reason=self.unavailable("sysrq"), way=way), self._sysrq_chosen
        )

    def _sysrq_chosen(self, sysrq_keys: str | None) -> None:
        if sysrq_keys:
            self.send_sysrq(sysrq_keys)

    def send_sysrq(self, sysrq_keys: str) -> None:
        """Send SysRq keys; reboot, crash and power off (alone or in a sequence) ask first."""
        pane = self._pane_for("SysRq", "sysrq")
        if pane is None:
            return
        if not keys.dangerous_sysrq(sysrq_keys):
            pane.send_sysrq(sysrq_keys)
            return
        question, detail = keys.sysrq_question(sysrq_keys, pane.target.name)
        self.app.push_screen(
            ConfirmDialog(question, yes="Send", detail=detail),
            lambda yes: (
                pane.send_sysrq(sysrq_keys)
                if yes
                else self.announce(f"SysRq {sysrq_keys} not sent")
            ),
        )

    def action_send_break(self) -> None:
        pane = self._pane_for("BREAK", "send_break")
        if pane is not None:
            pane.send_break()

    def action_nmi(self) -> None:
        self._confirmed_control(
            "NMI",
            "nmi",
            "Send an NMI to {name}?",
            "Many kernels panic or dump on an NMI. It goes through the control backing.",
        )

    def action_reset(self) -> None:
        self._confirmed_control(
            "Reset", "reset", "Reset {name}?", "A hard reset: unsaved data in the guest is lost."
        )

    def power(self, action: str) -> None:
        """A power action through the control; all but "on" ask first."""
        pane = self._pane_for(f"Power {action}", f"power:{action}")
        if pane is None:
            self.refuse(f"Power {action}", "open a target first") if not self.active_pane else None
            return
        if action == "on":
            pane.power(action)
            return
        self.app.push_screen(
            ConfirmDialog(
                f"Power {action} {pane.target.name}?",
                yes=f"Power {action}",
                detail=POWER_DETAIL.get(action, ""),
            ),
            lambda yes: pane.power(action) if yes else None,
        )

    def boot_override(self, device: str) -> None:
        """Boot once from `device` next time (firmware setup, PXE or disk), through the control."""
        pane = self._pane_for(f"Next boot: {device}", f"boot:{device}")
        if pane is not None:
            pane.boot_override(device)
        elif not self.active_pane:
            self.refuse(f"Next boot: {device}", "open a target first")

    def _confirmed_control(self, what: str, action: str, question: str, detail: str) -> None:
        """NMI and reset: ask first, then go through the target's control backing."""
        pane = self._pane_for(what, action)
        if pane is None:
            return
        call = pane.nmi if action == "nmi" else pane.reset
        self.app.push_screen(
            ConfirmDialog(question.format(name=pane.target.name), yes=what, detail=detail),
            lambda yes: call() if yes else None,
        )

    def action_baud(self) -> None:
        pane = self.active_pane
        if pane is None:
            self.refuse("Baud rate", "open a target first")
            return
        line = pane.facts.line
        first = line.split(maxsplit=1)[0] if line else ""
        self.app.push_screen(
            BaudDialog(
                pane.target.name,
                line=line,
                current=int(first) if first.isdigit() else pane.target.baud,
                reason=self.unavailable("baud"),
            ),
            lambda baud: self.set_baud(baud) if baud else None,
        )

    def set_baud(self, baud: int) -> None:
        pane = self._pane_for("Baud rate", "baud")
        if pane is not None:
            pane.set_baud(baud)

    def action_function_keys(self) -> None:
        pane = self._pane_for("Keys", "function_keys")
        if pane is not None:
            self.app.push_screen(
                FunctionKeysDialog(
                    pane.target.name,
                    pane.target.keys,
                    app_cursor=pane.terminal.screen_model.app_cursor_keys,
                ),
                lambda key: self.send_key(key) if key else None,
            )

    def send_key(self, key: str) -> None:
        """A named key (`f8`, `esc`) through the Hub, or literal text (`e`) typed."""
        pane = self._pane_for("Key", "function_keys")
        if pane is None:
            return
        if key.startswith("bootmenu:"):
            _, action, value = key.split(":", 2)
            if action != "hold":
                pane.boot_menu(action, value)
                return
            if reason := pane.unavailable("reset"):
                self.announce(f"{pane.target.name}: boot menu unavailable: {reason}")
                return
            self.app.push_screen(
                ConfirmDialog(f"Reset {pane.target.name} into its boot menu?", yes="Reset"),
                lambda yes: pane.boot_menu(action, value) if yes else None,
            )
            return
        pane.send_key(key)

    def action_sac(self) -> None:
        pane = self._pane_for("SAC", "sac")
        if pane is not None:
            self.app.push_screen(
                SacDialog(pane.target.name, prompt_up=pane.terminal.sac_prompt),
                lambda data: self.send_sac(data) if data else None,
            )

    def send_sac(self, data: bytes) -> None:
        pane = self._pane_for("SAC", "sac")
        if pane is not None:
            pane.type_bytes(data)
            self.announce(f"{pane.target.name}: SAC {data.decode(errors='replace').strip()!r} sent")

    def action_search(self) -> None:
        pane = self._pane_for("Search", "search")
        if pane is not None:
            self.app.push_screen(SearchDialog(self.last_search), self._search)

    def _search(self, text: str | None) -> None:
        pane = self.active_pane
        if pane is None or not text:
            return
        self.last_search = text
        found = pane.terminal.search(text)
        self.announce(f"{text!r} {'found' if found else 'not found'} in the scrollback")
        pane.terminal.focus()

    def action_sync_size(self) -> None:
        pane = self._pane_for("Sync size", "sync_size")
        if pane is not None:
            pane.sync_size()

    async def action_reconnect(self) -> None:
        pane = self._pane_for("Reconnect", "close_tab")
        if pane is not None:
            await pane.reconnect()

    def action_reading_view(self) -> None:
        """Console output as whole lines: beside the console, or (screen-reader mode) in it."""
        pane = self._pane_for("Reading view", "reading_view")
        if pane is not None:
            self.announce(f"{pane.target.name}: {pane.toggle_reading_view()}")

    def action_open_transcript(self) -> None:
        pane = self._pane_for("Transcript", "open_transcript")
        if pane is not None:
            path = pane.facts.transcript or self.hub.status(pane.target.name).transcript
            if not path:
                self.refuse("Transcript", "no transcript yet: it starts at the first connect")
                return
            self.app.push_screen(TranscriptDialog(Path(path)))

    def action_copy(self) -> None:
        pane = self._pane_for("Copy", "copy")
        if pane is not None:
            text = pane.terminal.selected_text()
            self.app.copy_to_clipboard(text)
            self.announce(
                f"copied {len(text)} characters (to the system clipboard through the terminal)"
            )

    def action_copy_mode(self) -> None:
        """Select with the keyboard in the console (Ctrl+F5 there)."""
        pane = self._pane_for("Copy mode", "copy_mode")
        if pane is not None:
            pane.terminal.focus()
            pane.terminal.action_copy_mode()

    def action_paste(self) -> None:
        if self._pane_for("Paste", "paste") is not None:
            self.paste_text(self.app.clipboard)

    def paste_text(self, text: str) -> None:
        """Paste into the active console; longer than paste_limit asks first; always paced."""
        pane = self._pane_for("Paste", "paste")
        if pane is None or not text:
            return
        limit = self.console_app.config.settings.paste_limit
        if len(text) <= limit:
            pane.paste(text)
            return
        self.app.push_screen(
            PasteDialog(len(text), limit=limit, baud=pane.target.baud),
            lambda yes: pane.paste(text) if yes else self.announce("paste cancelled"),
        )

    def request_lock(self, *, take: bool = False) -> None:
        pane = self._pane_for("Write lock", "close_tab")
        if pane is not None:
            pane.request_lock(take=take)

    def hand_over_lock(self) -> None:
        pane = self._pane_for("Write lock", "close_tab")
        if pane is not None:
            pane.hand_over_lock()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.help_sections()))

    def help_sections(self) -> list[HelpSection]:
        """The keys in force by where they work: the bindings of the app, this screen, the widgets
        it holds and the dialogs it opens."""
        app = self.app
        palette = Binding(
            app.COMMAND_PALETTE_BINDING,
            "command_palette",
            "command palette",
            key_display=app.COMMAND_PALETTE_DISPLAY,
        )
        return [
            ("Anywhere", [palette]),
            ("Outside a console", [*own_bindings(app), *own_bindings(self)]),
            ("In the target list", own_bindings(self.query_one(Inventory))),
            ("Inside a console", [*own_bindings(TerminalView), *INSIDE_CONSOLE]),
            ("Copy and paste", COPY_AND_PASTE),
            ("In dialogs and help", own_bindings(Dialog, ConfirmDialog, HelpScreen)),
            ("Moving around", MOVING),
        ]

"""The command palette: every action by a name that contains its words, for the focused target.

Actions that cannot be done on the target are listed with the reason, never hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console_tui.core import keys
from console_tui.ui.dialogs.function_keys import NAMED_KEYS, boot_shortcuts, shown_bytes
from console_tui.ui.dialogs.sac import sac_actions
from console_tui.ui.dialogs.sysrq import sysrq_label
from console_tui.ui.screens.main import MainScreen
from console_tui.ui.widgets.inventory import Inventory


@dataclass(frozen=True)
class Command:
    """One palette entry: its name, what it does, and the reason it is unavailable (if it is)."""

    name: str
    run: Callable[[], object]
    help: str
    unavailable: str = ""


def console_commands(screen: MainScreen) -> Iterator[Command]:
    """Every command of the main screen, for the target of the active tab."""
    for target in screen.hub.targets():
        yield Command(
            f"Open {target.name}", partial(screen.open_target, target.name), "open its console"
        )
    yield Command("Help: keys", screen.action_help, "every key binding")
    yield Command(
        "Rescan for VMs and ports",
        partial(screen.query_one(Inventory).rescan, announce=True),
        "look again for running QEMU VMs, serial ports and QEMU socket folders",
    )
    pane = screen.active_pane
    if pane is None:
        return
    name, style = pane.target.name, pane.target.keys

    def why(action: str) -> str:
        return screen.unavailable(action)

    brk = why("sysrq")
    yield Command(
        "SysRq…", screen.action_sysrq, "choose a SysRq key or a sequence such as REISUB", brk
    )
    by_break = screen.hub.can_break(name).ok
    for key in keys.SYSRQ_KEYS:
        how = f"BREAK, then {key}" if by_break else f"Alt+SysRq+{key} through the control"
        yield Command(sysrq_label(key), partial(screen.send_sysrq, key), f"{how}, to {name}", brk)
    yield Command(
        "SysRq sequence: REISUB (safe reboot)", partial(screen.send_sysrq, "reisub"), "", brk
    )
    yield Command(
        "Send BREAK", screen.action_send_break, f"a serial BREAK to {name}", why("send_break")
    )
    yield Command(
        "Send NMI", screen.action_nmi, f"asks first; through {name}'s control", why("nmi")
    )
    yield Command("Reset", screen.action_reset, f"asks first; hard reset of {name}", why("reset"))
    yield Command("Function keys and boot keys…", screen.action_function_keys, f"{style} keys")
    baud = why("baud")
    yield Command("Baud rate…", screen.action_baud, "set the terminal server port's rate", baud)
    for rate, what in ((9600, "boot loaders, firmware"), (115200, "the usual Linux rate")):
        yield Command(f"Baud rate {rate}", partial(screen.set_baud, rate), what, baud)
    for number in range(1, 13):
        data = keys.function_key(number, style)
        yield Command(
            f"Function key F{number}", partial(screen.send_key, f"f{number}"), shown_bytes(data)
        )
    for key, label in NAMED_KEYS:
        yield Command(f"Key {label}", partial(screen.send_key, key), f"{style} keys")
    for key, label, _hint in boot_shortcuts():
        yield Command(f"Boot key {label}", partial(screen.send_key, key), "")
    sac = why("sac")
    yield Command("SAC…", screen.action_sac, "Windows Special Administration Console", sac)
    for _name, label, data in sac_actions():
        short = label.split(" (")[0]
        yield Command(short, partial(screen.send_sac, data), shown_bytes(data), sac)
    for number in range(1, 5):
        yield Command(
            f"SAC: switch to channel {number}",
            partial(screen.send_sac, keys.sac_switch(number)),
            f"ch -si {number}",
            sac,
        )
    yield Command("Sync size", screen.action_sync_size, "types stty rows R cols C")
    yield Command("Reconnect", screen.action_reconnect, f"drop {name}'s line and connect again now")
    yield Command("Open transcript", screen.action_open_transcript, "what the console sent")
    yield Command("Copy", screen.action_copy, "the selection, or the screen (OSC 52)")
    yield Command(
        "Copy mode: select with the keyboard",
        screen.action_copy_mode,
        "Ctrl+F5 in the console: arrows move, Space marks, Enter copies, Esc leaves",
    )
    yield Command("Paste", screen.action_paste, "what Copy took; paced; long pastes ask")
    yield Command("Search scrollback", screen.action_search, "find text above")
    yield Command(
        "Reading view: show or hide",
        screen.action_reading_view,
        "console output as plain lines, only ever appended (for screen readers)",
    )
    yield Command("Request write lock", screen.request_lock, "ask the holder for it")
    yield Command(
        "Take write lock", partial(screen.request_lock, take=True), "admins; the holder is told"
    )
    yield Command("Hand over write lock", screen.hand_over_lock, "to whoever asked")
    yield Command("Close tab", screen.action_close_tab, "the session stays for other viewers")
    yield Command("Leave console", screen.action_inventory, "go to the target list")


class ConsoleCommands(Provider):
    """Console actions for the target of the active tab."""

    @property
    def main_screen(self) -> MainScreen | None:
        """The main screen the palette was opened on (the palette is only bound there)."""
        screen = self.screen
        return screen if isinstance(screen, MainScreen) else None

    def _commands(self) -> list[Command]:
        screen = self.main_screen
        return list(console_commands(screen)) if screen is not None else []

    def _runner(self, command: Command) -> Callable[[], object]:
        screen = self.main_screen
        if not command.unavailable or screen is None:
            return command.run
        return lambda: screen.refuse(command.name, command.unavailable)

    @staticmethod
    def _help(command: Command) -> str:
        return f"unavailable: {command.unavailable}" if command.unavailable else command.help

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.name, self._runner(command), help=self._help(command))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(command.name),
                    self._runner(command),
                    text=command.name,
                    help=self._help(command),
                )

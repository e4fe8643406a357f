"""Help: every key binding and what it does, outside and inside a console."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INSIDE_CONSOLE = [
    ("any key", "goes to the console, encoded for the target's key style (xterm, VT220, VT100+)"),
    ("Ctrl+F6", "leave the console (as in the Azure serial console); Ctrl+F6 again goes back"),
    ("Ctrl+]", "command palette: every action by name, for the target of the active tab"),
    ("Shift+PgUp / Shift+PgDn", "scroll back and forward (the mouse wheel too)"),
    ("paste", "bracketed when the guest asked; paced to the line; long pastes ask first"),
]


def binding_rows(bindings: list[tuple[str, str]]) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=True)
    table.add_column("Key", no_wrap=True)
    table.add_column("What it does")
    for key, what in bindings:
        table.add_row(key, what)
    return table


class HelpScreen(ModalScreen[None]):
    """Every binding in words; Escape or F1 closes it."""

    CSS_PATH = "help.tcss"
    BINDINGS = [
        Binding("escape,f1,q", "close", "Close help", id="help.close"),
    ]

    def compose(self) -> ComposeResult:
        from console_tui.ui.screens.main import MainScreen

        outside = []
        for binding in MainScreen.BINDINGS:
            if isinstance(binding, Binding):
                outside.append((self.app.get_key_display(binding), binding.description))
        outside += [
            ("Ctrl+]", "command palette (also inside a console)"),
            ("Tab / Shift+Tab", "move between controls"),
            ("/", "filter targets (in the inventory)"),
            ("Enter", "open the highlighted target"),
            ("Ctrl+Q", "quit"),
        ]
        with VerticalScroll(id="help"):
            yield Static("[b]Keys outside a console[/b]")
            yield Static(binding_rows(outside))
            yield Static("\n[b]Inside a console[/b]")
            yield Static(binding_rows(INSIDE_CONSOLE))

    def action_close(self) -> None:
        self.dismiss(None)

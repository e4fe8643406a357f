"""Help: every key binding in force and what it does, by where it works.

The screen that opens help hands it the sections, gathered from the bindings of the app, of itself,
of the widgets it holds and of its dialogs; help shows each binding's keys after the config's
keymap, and knows none of those screens.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Static

Row = Binding | tuple[str, str]
"""A binding, shown with its keys after the keymap, or a row already in words: (keys, what)."""

HelpSection = tuple[str, Sequence[Row]]
"""Where the keys work, and the rows for that place."""

INSIDE_CONSOLE = [
    (
        "any other key",
        "goes to the console, encoded for the target's key style (xterm, VT220, VT100+)",
    ),
]
COPY_AND_PASTE = [
    ("mouse drag", "selects text in the console"),
    ("in copy mode", "arrows, PgUp/PgDn, Home/End move; Space marks; Enter copies; Esc leaves"),
    (
        "Ctrl+] Copy",
        "copies the selection (or the whole screen) to your clipboard, through your terminal "
        "(OSC 52), over SSH too",
    ),
    (
        "your terminal's paste",
        "(often Ctrl+Shift+V) types into the console: bracketed when the guest asked, paced to "
        "the line; longer than paste_limit asks first",
    ),
    ("Ctrl+] Paste", "pastes what Copy took, the same way"),
]
MOVING = [
    ("Tab / Shift+Tab", "move between controls: filter, targets, tabs, console, reading view"),
    ("Up / Down, Enter", "choose in a list; Enter opens the highlighted target"),
    ("Left / Right", "switch console tabs when the tab bar has focus"),
]


def own_bindings(*owners: DOMNode | type[DOMNode]) -> list[Binding]:
    """The bindings each owner (an app, screen or widget, or its class) declares, in order."""
    return [
        binding for owner in owners for binding in owner.BINDINGS if isinstance(binding, Binding)
    ]


def key_words(app: App[object], binding: Binding) -> str:
    """The keys of a binding as shown to the operator, after the config's keymap."""
    settings = getattr(getattr(app, "config", None), "settings", None)
    keymap = getattr(settings, "keymap", None) or {}
    if binding.id not in keymap and binding.key_display:
        return binding.key_display
    keys = keymap.get(binding.id or "", binding.key)
    shown = [app.get_key_display(Binding(key.strip(), "")) for key in keys.split(",")]
    return " or ".join(shown)


def rows_of(app: App[object], rows: Sequence[Row]) -> list[tuple[str, str]]:
    return [
        (key_words(app, row), row.description) if isinstance(row, Binding) else row for row in rows
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

    def __init__(self, sections: Sequence[HelpSection]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            for index, (title, rows) in enumerate(self.sections):
                yield Static(
                    f"[b]{title}[/b]", classes="section first" if index == 0 else "section"
                )
                yield Static(binding_rows(rows_of(self.app, rows)))

    def action_close(self) -> None:
        self.dismiss(None)

"""Help: every key binding and what it does, outside and inside a console."""

from __future__ import annotations

from rich.table import Table
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INSIDE_CONSOLE = [
    (
        "any other key",
        "goes to the console, encoded for the target's key style (xterm, VT220, VT100+)",
    ),
    ("paste", "bracketed when the guest asked; paced to the line; long pastes ask first"),
]
MOVING = [
    ("Tab / Shift+Tab", "move between controls: filter, targets, tabs, console, reading view"),
    ("Up / Down, Enter", "choose in a list; Enter opens the highlighted target"),
    ("Left / Right", "switch console tabs when the tab bar has focus"),
]


def key_words(app: App[object], binding: Binding) -> str:
    """The keys of a binding as shown to the operator, after the config's keymap."""
    settings = getattr(getattr(app, "config", None), "settings", None)
    keymap = getattr(settings, "keymap", None) or {}
    keys = keymap.get(binding.id or "", binding.key)
    shown = [app.get_key_display(Binding(key.strip(), "")) for key in keys.split(",")]
    return " or ".join(shown)


def rows_of(app: App[object], bindings: list[Binding | tuple[str, str]]) -> list[tuple[str, str]]:
    rows = []
    for binding in bindings:
        if isinstance(binding, Binding):
            rows.append((key_words(app, binding), binding.description))
        else:
            rows.append(binding)
    return rows


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
        from console_tui.ui.dialogs._base import Dialog
        from console_tui.ui.dialogs.confirm import ConfirmDialog
        from console_tui.ui.screens.main import MainScreen
        from console_tui.ui.widgets.inventory import Inventory
        from console_tui.ui.widgets.terminal import TerminalView

        app = self.app
        palette = (getattr(app, "COMMAND_PALETTE_DISPLAY", None) or "Ctrl+]", "command palette")
        sections: list[tuple[str, list[Binding | tuple[str, str]]]] = [
            ("Anywhere", [palette, *_bindings(app.BINDINGS)]),
            ("Outside a console", [*_bindings(MainScreen.BINDINGS)]),
            ("In the target list", [*_bindings(Inventory.BINDINGS)]),
            ("Inside a console", [*_bindings(TerminalView.BINDINGS), *INSIDE_CONSOLE]),
            (
                "In dialogs and help",
                [
                    *_bindings(Dialog.BINDINGS),
                    *_bindings(ConfirmDialog.BINDINGS),
                    *_bindings(self.BINDINGS),
                ],
            ),
            ("Moving around", [*MOVING]),
        ]
        with VerticalScroll(id="help"):
            for index, (title, bindings) in enumerate(sections):
                yield Static(
                    f"[b]{title}[/b]", classes="section first" if index == 0 else "section"
                )
                yield Static(binding_rows(rows_of(app, bindings)))

    def action_close(self) -> None:
        self.dismiss(None)


def _bindings(bindings: list[object]) -> list[Binding]:
    return [binding for binding in bindings if isinstance(binding, Binding)]

"""Baud rate: the common rates of a terminal server's port (rfc2217://), one a line, for boot
loaders and firmware that talk at 9600 before the OS switches to 115200."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, OptionList
from textual.widgets.option_list import Option

from console_tui.core.backings.comport import COMMON_BAUDS
from console_tui.ui.dialogs._base import Dialog

RATE_NOTES = {
    9600: "boot loaders, firmware, most network gear",
    115200: "Linux and most modern systems",
}


def baud_label(baud: int, current: int) -> str:
    """`9600 baud (now): boot loaders, ...`: the rate, whether it is the line's, what uses it."""
    words = f"{baud} baud"
    if baud == current:
        words += " (now)"
    note = RATE_NOTES.get(baud)
    return f"{words}: {note}" if note else words


class BaudDialog(Dialog[int]):
    """Pick a rate with the arrows and Enter; dismisses it. Unavailable: the reason, and Cancel."""

    def __init__(self, target: str, *, line: str, current: int, reason: str = "") -> None:
        super().__init__()
        self.target = target
        self.line = line
        self.current = current
        self.reason = reason

    def compose(self) -> ComposeResult:
        disabled = bool(self.reason)
        with Vertical(id="dialog"):
            yield Label(f"Baud rate of {self.target}", classes="title")
            if self.line:
                yield Label(f"Line now: {self.line}", id="line")
            rates = OptionList(
                *(Option(baud_label(baud, self.current), id=str(baud)) for baud in COMMON_BAUDS),
                id="rates",
                disabled=disabled,
            )
            if self.current in COMMON_BAUDS:
                rates.highlighted = COMMON_BAUDS.index(self.current)
            yield rates
            yield Label(
                "The terminal server sets its port to the rate; the console shows what it "
                "confirms. Reconnects keep the rate.",
                classes="note",
            )
            if self.reason:
                yield Label(f"Unavailable: {self.reason}", classes="reason", id="reason")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel" if self.reason else "#rates").focus()

    @on(OptionList.OptionSelected, "#rates")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.dismiss(int(event.option.id))

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

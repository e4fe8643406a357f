"""Search the scrollback for a piece of text."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label

from console_tui.ui.dialogs._base import Dialog


class SearchDialog(Dialog[str]):
    """Ask for the text to find; Enter searches upwards from the view."""

    def __init__(self, last: str = "") -> None:
        super().__init__()
        self.last = last

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Search the scrollback", classes="title")
            yield Input(value=self.last, placeholder="text to find", id="text")
            yield Label("Enter: find (again: the next match above) · Esc: cancel", classes="note")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value or None)

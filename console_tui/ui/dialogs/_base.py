"""What every dialog shares: a centred box, a title, Escape to cancel."""

from __future__ import annotations

from typing import TypeVar

from textual.binding import Binding
from textual.screen import ModalScreen

T = TypeVar("T")


class Dialog(ModalScreen[T]):
    """A centred modal box that Escape cancels (dismissing None)."""

    DEFAULT_CSS = """
    Dialog {
        align: center middle;
        #dialog {
            width: 76;
            max-width: 95%;
            height: auto;
            max-height: 90%;
            padding: 1 2;
            background: $surface;
            border: thick $primary;
        }
        Label { width: 100%; }
        .title { text-style: bold; margin-bottom: 1; }
        .note { color: $foreground; margin-top: 1; }
        .reason { color: $error; text-style: bold; margin-top: 1; }
        .buttons { height: auto; margin-top: 1; align-horizontal: right; }
        .buttons Button { margin-left: 2; }
        OptionList { height: auto; max-height: 20; }
        Input { margin-top: 1; }
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

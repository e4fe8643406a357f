"""What every dialog shares: a centred box, a title, Escape to cancel, and a size that fits.

On a short terminal (80x24) a dialog's lists give up rows so that every field, note and button of
the box stays on screen, and Tab never moves to something the operator cannot see.
"""

from __future__ import annotations

from typing import TypeVar

from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import OptionList

T = TypeVar("T")

HEIGHT_SHARE = 0.9
"""The most of the terminal's height a dialog takes."""
WIDTH_SHARE = 0.95


class Dialog(ModalScreen[T]):
    """A centred modal box that Escape cancels (dismissing None)."""

    DEFAULT_CSS = f"""
    Dialog {{
        align: center middle;
        #dialog {{
            width: 76;
            max-width: {WIDTH_SHARE:.0%};
            height: auto;
            max-height: {HEIGHT_SHARE:.0%};
            padding: 1 2;
            background: $surface;
            border: thick $primary;
        }}
        Label {{ width: 100%; }}
        .title {{ text-style: bold; margin-bottom: 1; }}
        .note {{ color: $foreground; margin-top: 1; }}
        .reason {{ color: $error; text-style: bold; margin-top: 1; }}
        .buttons {{ height: auto; margin-top: 1; align-horizontal: right; }}
        .buttons Button {{ margin-left: 2; }}
        OptionList {{ height: auto; max-height: 20; }}
        Input {{ margin-top: 1; }}
        #dialog.-short {{
            padding: 0 1;
            OptionList {{ height: 1fr; min-height: 3; }}
        }}
    }}
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    _natural_height = 0
    """The box's height with its lists at full length, measured while it is not short."""

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_mount(self) -> None:
        self.fit()  # before the first paint: a dialog drawn twice costs a screen reader's bytes

    def on_resize(self) -> None:
        self.fit()

    def fit(self) -> None:
        """Make the box short (its lists shrink to what is left) when it would not fit."""
        found = self.query("#dialog")
        if not found or not found.first().query(OptionList):
            return
        box = found.first()
        size = self.app.size
        if not box.has_class("-short"):
            most = size.width * WIDTH_SHARE
            wanted = float(box.styles.width.resolve(size, size)) if box.styles.width else most
            width = int(min(wanted, most))
            inner = width - box.styles.gutter.width
            self._natural_height = (
                box.get_content_height(size, size, inner) + box.styles.gutter.height
            )
        box.set_class(self._natural_height > int(size.height * HEIGHT_SHARE), "-short")
        for option_list in box.query(OptionList):  # the chosen option stays in sight
            option_list.call_after_refresh(option_list.scroll_to_highlight)

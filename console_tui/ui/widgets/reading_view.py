"""The reading view: console output as whole lines, wrapped to the view, for reading and review.

It shows the terminal view's reading text (`ReadingText`: lines as they end up, and the line being
written, such as the prompt, last) beside the screen; in screen-reader mode the terminal view
shows the same text itself instead of the screen, so output is written once.
"""

from __future__ import annotations

import re

from textual.timer import Timer

from console_tui.ui.widgets._console_rows import ReadingRows
from console_tui.ui.widgets._reading_text import ReadingText
from console_tui.ui.widgets._rows_view import FRAME_SECONDS, RowsView

_ESCAPES = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC
    r"|\x1b[P^_X][^\x1b]*(?:\x1b\\)?"  # DCS, PM, APC, SOS
    r"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b[ -/]*[0-~]"  # two-character escapes
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"  # other controls (tab, newline and CR are handled)
)


class ReadingView(RowsView, can_focus=True):
    """Whole lines of output, escapes applied or removed, the newest at the bottom."""

    DEFAULT_CSS = """
    ReadingView {
        height: 1fr;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
        border: tall $panel;
        &:focus { border: tall $primary; }
    }
    """

    def __init__(self, text: ReadingText | None = None, *, id: str | None = None) -> None:
        super().__init__(ReadingRows(text or ReadingText(), paged=False), id=id)
        self.text = self.rows.text if isinstance(self.rows, ReadingRows) else ReadingText()
        self._timer: Timer | None = None

    @property
    def lines(self) -> list[str]:
        """The complete lines so far."""
        return self.text.lines

    @property
    def line_count(self) -> int:
        return len(self.text.lines)

    def feed(self, data: bytes) -> None:
        """Bytes for a reading view of its own (one that shares no terminal view's text)."""
        self.text.feed(data)
        self.changed()

    def changed(self) -> None:
        """The text grew: draw it at the next refresh tick."""
        if self._timer is None:
            self._timer = self.set_timer(FRAME_SECONDS, self.sync_now, name="reading frame")

    def sync_now(self) -> None:
        self._timer = None
        rows = self.rows
        assert isinstance(rows, ReadingRows)
        rows.set_width(self.scrollable_content_region.width or rows.width)
        self.show_changes(rows.sync())

    def on_resize(self) -> None:
        self.sync_now()

    def on_show(self) -> None:
        self.sync_now()


def plain_line(line: str) -> str:
    """A line as a reader hears it: escapes and controls removed, CR overwrites, tabs kept."""
    line = _ESCAPES.sub("", line.rstrip("\r"))
    if "\r" in line:
        line = line.rsplit("\r", 1)[-1]
    return line.rstrip()

"""Where the real terminal cursor rests: on the focused control's current line.

Terminal screen readers and magnifiers follow the hardware cursor. Textual hides it and moves it only
for text fields, so in screen-reader mode the app shows it and puts it on the focused control: the
highlighted target, option or tab, a button's label, the last line of the reading view. The console
view places it on the console cursor itself.
"""

from __future__ import annotations

from textual.driver import Driver
from textual.geometry import Offset
from textual.widget import Widget
from textual.widgets import Input, Log, OptionList, Tabs, TextArea, Tree

SHOW_CURSOR = "\x1b[?25h"
"""DECTCEM: show the cursor (Textual's driver hides it at start)."""


def cursor_shown(driver_class: type[Driver]) -> type[Driver]:
    """`driver_class`, made to show the real cursor each time it takes the terminal: Textual's
    drivers hide it when they start and when they resume after a suspend."""

    class CursorShownDriver(driver_class):  # type: ignore[valid-type,misc]
        def start_application_mode(self) -> None:
            super().start_application_mode()
            self.write(SHOW_CURSOR)
            self.flush()

    return CursorShownDriver


def focus_offset(widget: Widget) -> Offset | None:
    """The screen cell of the focused widget's current item, or None where the widget places it."""
    if isinstance(widget, Input | TextArea) or getattr(widget, "places_cursor", False):
        return None
    region = widget.scrollable_content_region
    if not region:
        return None
    line = 0
    if isinstance(widget, Tree):
        line = max(widget.cursor_line, 0) - widget.scroll_offset.y
    elif isinstance(widget, OptionList):
        index = widget.highlighted
        if index is not None:
            # OptionList has no public way from an option to its line: an option can wrap over
            # several lines and a divider adds one, and only its private line cache knows where
            # each option starts (its own scroll_to_highlight reads the same map).
            line = widget._index_to_line.get(index, 0) - widget.scroll_offset.y
    elif isinstance(widget, Log):
        line = max(widget.line_count - 1 - widget.scroll_offset.y, 0)
    elif isinstance(widget, Tabs):
        active = widget.active_tab
        if active is not None and active.region:
            return active.content_region.offset
    line = min(max(line, 0), region.height - 1)
    return Offset(region.x, region.y + line)

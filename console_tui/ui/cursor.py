"""Where the real terminal cursor rests: on the focused control's current line.

Terminal screen readers and magnifiers follow the hardware cursor. Textual hides it and moves it only
for text fields, so in screen-reader mode the app shows it and puts it on the focused control: the
highlighted target, option or tab, a button's label, the last line of the reading view. The console
view places it on the console cursor itself.
"""

from __future__ import annotations

from textual.geometry import Offset
from textual.widget import Widget
from textual.widgets import Input, Log, OptionList, Tabs, TextArea, Tree

SHOW_CURSOR = "\x1b[?25h"
"""DECTCEM: show the cursor (Textual's driver hides it at start)."""


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
            line = widget._index_to_line.get(index, 0) - widget.scroll_offset.y
    elif isinstance(widget, Log):
        line = max(widget.line_count - 1 - widget.scroll_offset.y, 0)
    elif isinstance(widget, Tabs):
        active = widget.active_tab
        if active is not None and active.region:
            return active.content_region.offset
    line = min(max(line, 0), region.height - 1)
    return Offset(region.x, region.y + line)

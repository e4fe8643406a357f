"""Put a widget's repaint on the operator's terminal now, for a typed key's echo.

Textual draws a refreshed widget four hops later: the widget's idle handler posts an Update to
the screen, the screen's idle handler resumes its update timer, and the timer's tick renders the
frame. Each hop waits for a turn of the event loop, and while a console floods a turn holds a
frame and the reading of the console, so an echo waited 5-20 ms idle and 50-200 ms under a flood.
`draw_now` does that tick's work at once: the screen's frame, with whatever else is dirty in it.

It reaches into Textual's screen update (`Screen._dirty_widgets`, `Screen._on_timer_update`,
`Widget._repaint_required`), checked against the Textual this project requires (>= 8); where
those are missing it does nothing and the ordinary refresh draws the frame a little later.
"""

from __future__ import annotations

from textual.dom import NoScreen
from textual.errors import NoWidget
from textual.widget import Widget

__all__ = ["draw_now"]


def draw_now(widget: Widget) -> bool:
    """Render the frame with `widget`'s pending repaint now (True), or leave it to Textual's
    next update tick (False: nothing to draw, not on the current screen, or a batch update)."""
    if not widget.is_mounted:
        return False
    try:
        screen = widget.screen
        app = widget.app
    except (NoScreen, NoWidget):
        return False
    dirty = getattr(screen, "_dirty_widgets", None)
    tick = getattr(screen, "_on_timer_update", None)
    if dirty is None or tick is None or not getattr(widget, "_repaint_required", False):
        return False
    if app.screen is not screen or app._batch_count:
        return False
    widget._repaint_required = False  # this frame draws it: no Update message for it later
    dirty.add(widget)
    tick()
    return True

"""How the app's frames reach the operator's terminal quickly, even while a console floods.

Each module here changes, or reaches into, Textual's own drawing, and is checked against the
Textual this project requires (>= 8): where Textual is not as described, it changes nothing and
Textual draws as it always does. When Textual is upgraded, look here first; each module's tests
hold what it draws against Textual's own.

- draw_now: a typed key's echo drawn in the same turn of the event loop as it is read.
- key_pending: a key on its way through Textual's hops holds frames back until it went out.
- idle_gc: full garbage collections while the console is quiet, not in a frame.
- line_frame: a view's content lines framed without Textual's styling pass per line.
- covered_renders: a changed area drawn from the widgets on top only.
- strip_cycles, strip_caches: drawn lines freed when dropped, and cheap to make.
"""

from __future__ import annotations

from console_tui.ui.frames import covered_renders, strip_caches, strip_cycles

__all__ = ["install"]


def install() -> None:
    """Make the changes to Textual that hold for every app in the process (once)."""
    strip_cycles.prevent()  # a frame's lines freed when dropped, not by the cyclic collector
    strip_caches.make_lazy()  # a line's caches made when used, not with every line
    covered_renders.skip_covered()  # a changed area drawn from the widgets on top only

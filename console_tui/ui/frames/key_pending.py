"""A key the operator pressed that the app has not handled yet, so frames can let it through.

Textual reads the terminal in a thread of its own and hands each key to the app as a message; the
app passes it to the screen, the screen to the focused widget, each hop a turn of the event loop.
While a console floods, a 15-20 ms frame could start between two hops, and then another, and the
key (and so its echo) waited for them. `noting_keys` puts a mark in the driver's input thread when
a key comes; the console view's frame waits while a key is on its way (`on_its_way`), and the view
clears the mark when the key's bytes went out to the console (`handled`; at once for a key that
sends nothing). A key that goes elsewhere (a dialog) is forgotten after WAIT_MAX.
"""

from __future__ import annotations

import time

from textual import events
from textual.driver import Driver
from textual.message import Message

__all__ = ["WAIT_MAX", "came", "handled", "noting_keys", "on_its_way"]

WAIT_MAX = 0.05
"""How long frames wait for one key at most; a key older than that went elsewhere (a dialog, the
target list) and is forgotten."""
MARK = "_console_key_came"
"""The app's attribute holding when its oldest key still on its way came (monotonic seconds),
0.0 for none: per app, as `serve` runs one app per operator in one process. Written by the input
thread and the event loop: a float assignment, nothing to lock."""


def came(app: object, now: float | None = None) -> None:
    """A key came from `app`'s terminal (its input thread)."""
    now = time.monotonic() if now is None else now
    if now - getattr(app, MARK, 0.0) >= WAIT_MAX:  # none on its way, or one that went elsewhere
        setattr(app, MARK, now)


def handled(app: object) -> None:
    """The key went out to the console (or reached the view and sends nothing)."""
    setattr(app, MARK, 0.0)


def on_its_way(app: object, now: float) -> bool:
    """Whether a key of `app`'s, come less than WAIT_MAX ago, has not gone out yet."""
    return now - getattr(app, MARK, 0.0) < WAIT_MAX


def noting_keys(driver_class: type[Driver]) -> type[Driver]:
    """`driver_class`, marking each key as it comes from the terminal."""

    class KeyNotingDriver(driver_class):  # type: ignore[valid-type,misc]
        def process_message(self, message: Message) -> None:
            if isinstance(message, events.Key):
                came(self._app)
            super().process_message(message)

    return KeyNotingDriver

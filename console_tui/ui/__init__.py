"""The full-screen app (Textual). It uses the Hub API only."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from console_tui.core.config import Config

if TYPE_CHECKING:
    from console_tui.core.api import HubAPI

SCREEN_TICKS_PER_SECOND = 240
"""Textual's screen-update tick (`TEXTUAL_FPS`, read when Textual is first imported). A console
view draws at most 60 frames a second itself while output floods; this tick only decides how
long a frame already made waits to be written, so a key's echo is drawn within ~4 ms of arriving,
not up to a 60 Hz tick later."""
THREAD_SWITCH_SECONDS = 0.001
"""How long a thread waiting for the interpreter lock waits while the event loop runs (Python's
default is 5 ms): the thread that reads keys and the one that writes frames to the terminal each
wait for it, so a busy loop added up to 10 ms to every key's echo."""


def run_app(
    config: Config,
    *,
    theme: str | None = None,
    screen_reader: bool = False,
    hub: HubAPI | None = None,
) -> int:
    """Run the app until the operator quits; the exit code."""
    os.environ.setdefault("TEXTUAL_FPS", str(SCREEN_TICKS_PER_SECOND))
    sys.setswitchinterval(THREAD_SWITCH_SECONDS)
    from console_tui.ui.app import ConsoleApp

    app = ConsoleApp(config, hub=hub, theme=theme, screen_reader=screen_reader)
    app.collect_when_quiet = True
    app.run()
    return app.return_code or 0

"""The full-screen app (Textual). It uses the Hub API only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console_tui.core.config import Config

if TYPE_CHECKING:
    from console_tui.core.api import HubAPI


def run_app(
    config: Config,
    *,
    theme: str | None = None,
    screen_reader: bool = False,
    hub: HubAPI | None = None,
) -> int:
    """Run the app until the operator quits; the exit code."""
    from console_tui.ui.app import ConsoleApp

    app = ConsoleApp(config, hub=hub, theme=theme, screen_reader=screen_reader)
    app.run()
    return app.return_code or 0

"""A key's echo is put on the terminal in the same turn of the event loop as the bytes arrive.

Textual is headless here, so what is checked is that the frame was composed at once (the
widget's repaint taken by the compositor and rendered), not the bytes a real terminal got:
bench/app_vs_tmux.py times those.
"""

from __future__ import annotations

import time

from textual.app import App, ComposeResult

from console_tui.ui.draw_now import draw_now
from console_tui.ui.widgets.terminal import ECHO_FRAMES, FRAME_GAP_MAX, TerminalView


class One(App[None]):
    def compose(self) -> ComposeResult:
        yield TerminalView(columns=60, rows=10)


def echo(word: bytes) -> bytes:
    return b"\x1b7\x1b[1;1H\x1b[7m " + word + b" \x1b[0m\x1b8"


def drawn(view: TerminalView) -> bool:
    """Whether nothing of the view waits to be drawn: its repaint went into a composed frame."""
    compositor = view.screen._compositor
    return (
        not view._repaint_required and not view._repaint_regions and not compositor._dirty_regions
    )


async def test_output_after_a_quiet_spell_is_drawn_at_once() -> None:
    app = One()
    async with app.run_test(size=(70, 14)) as pilot:
        view = app.query_one(TerminalView)
        view.focus()
        await pilot.pause()
        view._synced_at = 0.0  # quiet for long
        view.feed(echo(b"QUIETONE"))
        assert drawn(view)
        assert "QUIETONE" in view.screen_text()


async def test_a_keys_echo_skips_the_flood_frame_gap() -> None:
    app = One()
    typed: list[bytes] = []
    async with app.run_test(size=(70, 14)) as pilot:
        view = app.query_one(TerminalView)
        view.send = typed.append
        view.focus()
        await pilot.pause()
        # Flooding: the last frame was just drawn and frames are far apart, so output waits.
        view._frame_gap = FRAME_GAP_MAX
        view._synced_at = time.monotonic()
        view.feed(b"flood line\r\n")
        assert view._timer is not None
        assert "flood line" not in "".join(view.shown_text())  # not yet synced: it waits
        await pilot.press("x")
        assert typed == [b"x"]  # handed to the pane's writer at once, not by a message
        view.feed(b"read before the key was sent\r\n")  # cannot hold the echo: it waits
        assert view._timer is not None
        view.sent()  # what the pane calls once the write is done
        for frame in range(ECHO_FRAMES):
            view._synced_at = time.monotonic()
            view.feed(echo(f"ECHO{frame:04d}".encode()))
            assert view._timer is None
            assert drawn(view)
            assert f"ECHO{frame:04d}" in view.shown_text()[0]
        view._synced_at = time.monotonic()
        view.feed(b"more flood\r\n")  # the echo frames are spent: back to the frame gap
        assert view._timer is not None


async def test_nothing_to_draw_or_not_mounted_is_left_to_textual() -> None:
    view = TerminalView(columns=20, rows=5)
    assert draw_now(view) is False
    app = One()
    async with app.run_test(size=(70, 14)) as pilot:
        mounted = app.query_one(TerminalView)
        await pilot.pause()
        assert draw_now(mounted) is False  # nothing marked for repaint
        mounted.refresh()
        assert draw_now(mounted) is True
        assert drawn(mounted)

"""A key's echo is put on the terminal in the same turn of the event loop as the bytes arrive.

Textual is headless here, so what is checked is that the frame was composed at once (the
widget's repaint taken by the compositor and rendered), not the bytes a real terminal got:
bench/app_vs_tmux.py times those.
"""

from __future__ import annotations

import time

from textual.app import App, ComposeResult
from textual.pilot import Pilot

from console_tui.ui.frames import key_pending
from console_tui.ui.frames.draw_now import draw_now
from console_tui.ui.widgets.terminal import (
    ECHO_SETTLE,
    FRAME_GAP_MAX,
    KEY_WAIT,
    TerminalView,
)


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


async def focused_view(app: One, pilot: Pilot[None]) -> TerminalView:
    """The app's console view, focused and drawn once."""
    view = app.query_one(TerminalView)
    view.focus()
    await pilot.pause()
    return view


async def test_output_after_a_quiet_spell_is_drawn_at_once() -> None:
    app = One()
    async with app.run_test(size=(70, 14)) as pilot:
        view = await focused_view(app, pilot)
        view._synced_at = 0.0  # quiet for long
        view.feed(echo(b"QUIETONE"))
        assert drawn(view)
        assert "QUIETONE" in view.screen_text()


async def test_a_keys_echo_skips_the_flood_frame_gap() -> None:
    app = One()
    typed: list[bytes] = []
    async with app.run_test(size=(70, 14)) as pilot:
        view = await focused_view(app, pilot)
        view.send = typed.append
        # Flooding: the last frame was just drawn and frames are far apart, so output waits.
        view._frame_gap = FRAME_GAP_MAX
        view._synced_at = time.monotonic()
        view.feed(b"flood line\r\n")
        assert view._timer is not None
        assert "flood line" not in "".join(view.shown_text())  # not yet synced: it waits
        await pilot.press("x")
        assert typed == [b"x"]  # handed to the pane's writer at once, not by a message
        view.sent(1)  # what the pane calls once the write is done: one output was read before
        view.feed(b"read before the key was sent\r\n")  # cannot hold the echo: it waits
        assert view._timer is not None
        for frame in range(4):  # every output read after it, in the echo window, is drawn
            view._synced_at = time.monotonic()  # flooding: the frame gap is far off
            view.feed(echo(f"ECHO{frame:04d}".encode()))
            assert view._timer is not None
            assert view._frame_due - time.monotonic() <= ECHO_SETTLE, "no frame gap for an echo"
            await pilot.pause(ECHO_SETTLE * 5)
            assert drawn(view)
            assert f"ECHO{frame:04d}" in view.shown_text()[0]
        view._echo_until = time.monotonic()  # the echo window is over: back to the frame gap
        view._frame_gap = FRAME_GAP_MAX
        view._synced_at = time.monotonic()
        view.feed(b"more flood\r\n")
        assert view._frame_due - time.monotonic() > FRAME_GAP_MAX / 2


async def test_a_frame_waits_while_a_key_is_on_its_way() -> None:
    app = One()
    async with app.run_test(size=(70, 14)) as pilot:
        view = await focused_view(app, pilot)
        key_pending.came(app)  # what the driver's input thread notes
        view._synced_at = 0.0  # quiet for long: output would be drawn at once
        view.feed(b"before the key\r\n")
        assert "before the key" not in "".join(view.shown_text()), "the key goes first"
        await pilot.press("x")  # the key reaches the view
        assert not key_pending.on_its_way(app, time.monotonic())
        await pilot.pause(KEY_WAIT * 5)
        assert "before the key" in "".join(view.shown_text())
        key_pending.came(app, time.monotonic() - key_pending.WAIT_MAX)  # a key that went elsewhere
        assert not key_pending.on_its_way(app, time.monotonic())
        key_pending.came(app)  # the next key is waited for again, not shadowed by the old one
        assert key_pending.on_its_way(app, time.monotonic())
        key_pending.handled(app)
        key_pending.came(app, time.monotonic() - key_pending.WAIT_MAX)
        view._synced_at = 0.0
        view.feed(b"not held for long\r\n")
        assert "not held for long" in "".join(view.shown_text())


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

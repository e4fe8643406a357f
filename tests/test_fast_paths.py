"""What the fast paths keep: rows that scrolled off are read only while someone looks at them (and
none is lost), a reading view opened late still has every line, the console view draws an
in-process session's own model, output after a quiet spell is drawn at once, `attach`'s terminal
output keeps order and pushes back, and the transcript still reaches its file."""

from __future__ import annotations

import asyncio
import os
import random
import re
from pathlib import Path

import pytest
from conftest import APP_SIZE, main_screen, make_config, open_console, target, until
from peers import ConsolePeer
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from console_tui.core import terminal_out
from console_tui.core.screen import available_backends
from console_tui.core.terminal_filter import TerminalFilter
from console_tui.core.terminal_out import TerminalWriter
from console_tui.core.transcript import Transcript
from console_tui.ui.app import ConsoleApp
from console_tui.ui.widgets._rows_view import FRAME_SECONDS
from console_tui.ui.widgets.terminal import TerminalView

CONSOLE = (83, 26)
"""An app size whose console (inside the view's border and scrollbar) is 80 columns by 24 rows."""


@pytest.fixture(params=available_backends())
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CONSOLE_TUI_SCREEN", request.param)
    return str(request.param)


class ViewApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TerminalView(scrollback_lines=1000)


def seq(first: int, last: int) -> bytes:
    return b"".join(f"{n}\r\n".encode() for n in range(first, last + 1))


async def mounted_view(pilot: Pilot[None]) -> TerminalView:
    view = pilot.app.query_one(TerminalView)
    view.focus()
    await pilot.pause()
    assert view.screen_model.size == (80, 24)
    return view


async def test_the_live_view_leaves_scrolled_off_rows_unread(backend: str) -> None:
    """Drawing the live screen does not turn the rows that scrolled off into text: they are
    still there, unread, for whoever asks."""
    async with ViewApp().run_test(size=CONSOLE) as pilot:
        view = await mounted_view(pilot)
        view.feed(seq(1, 300))
        view.sync_now()
        assert view.screen_text().split()[0] == "278"
        assert view.screen_model.scrolled_off() == [str(n) for n in range(1, 278)]


async def test_the_scrollback_shown_takes_in_what_scrolls_off_meanwhile(backend: str) -> None:
    """While the operator looks back, output that scrolls off joins the scrollback shown, in
    order, with nothing lost or doubled."""
    async with ViewApp().run_test(size=CONSOLE) as pilot:
        view = await mounted_view(pilot)
        view.feed(seq(1, 300))
        view.sync_now()
        await pilot.press("shift+pageup")
        assert view.in_scrollback
        view.feed(seq(301, 310))
        view.sync_now()
        history = [row.text.rstrip() for row in view.grid.history or []]
        assert history == [str(n) for n in range(1, 288)]


async def test_output_after_a_quiet_spell_is_drawn_at_once() -> None:
    """A key's echo after a quiet refresh tick is on the view at once, not a tick later."""
    async with ViewApp().run_test(size=CONSOLE) as pilot:
        view = await mounted_view(pilot)
        await pilot.pause(2 * FRAME_SECONDS)  # a quiet tick and more
        view.feed(b"demo:~# x")
        assert view.grid.screen[0].text.rstrip() == "demo:~# x"


async def test_in_process_the_view_draws_the_sessions_model_and_a_late_reading_view_gets_every_line(
    sock_dir: Path,
) -> None:
    """With the Hub in the app, the console view draws the session's own screen model (one
    emulation, not two). A reading view opened after 300 lines starts with all of them and then
    takes each new line as it comes."""
    config = make_config(sock_dir, target("box", sock_dir / "box.sock"))
    async with ConsolePeer(sock_dir / "box.sock", b"box login: ") as console:
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "box")
            session = app.hub.session("box")  # type: ignore[attr-defined]
            assert pane.terminal.screen_model is session.screen
            await console.send(b"\r\n" + seq(1, 300))
            await until(pilot, lambda: "300" in pane.terminal.screen_text(), "the 300th line")
            assert pane.terminal.screen_text().count("300") == 1
            main_screen(app).action_reading_view()
            await until(pilot, lambda: pane.reading_view.display, "the reading view")
            await console.send(seq(301, 310) + b"box:~# ")
            await until(pilot, lambda: "310" in pane.reading_view.lines, "the 310th line")
            lines = pane.reading_view.lines
            assert lines[lines.index("1") :] == [str(n) for n in range(1, 311)]


async def test_attach_output_keeps_order_and_pushes_back_while_the_terminal_lags() -> None:
    """A terminal that does not read (a pipe nobody drains) pauses the output past the high
    water mark; once it reads again, output resumes and every byte arrives, in order."""
    read_end, write_end = os.pipe()
    paused, resumed = asyncio.Event(), asyncio.Event()
    writer = TerminalWriter(write_end, pause=paused.set, resume=resumed.set)
    pieces = [bytes([65 + n % 26]) * 65536 for n in range(48)]
    for piece in pieces:
        writer.write(piece)
    assert sum(map(len, pieces)) > terminal_out.HIGH_WATER
    await asyncio.wait_for(paused.wait(), 10)
    assert not resumed.is_set()

    def drain() -> bytes:
        got = bytearray()
        while len(got) < sum(map(len, pieces)):
            got += os.read(read_end, 1 << 16)
        return bytes(got)

    got = await asyncio.to_thread(drain)
    await asyncio.wait_for(resumed.wait(), 10)
    await asyncio.to_thread(writer.close)
    os.close(read_end)
    os.close(write_end)
    assert got == b"".join(pieces)


async def test_the_transcript_reaches_its_file_by_the_end_of_the_loops_turn(
    tmp_path: Path,
) -> None:
    """Reads written in one turn of the event loop are flushed once, at its end."""
    path = tmp_path / "box.log"
    transcript = Transcript(path)
    transcript.write(b"first read ")
    transcript.write(b"second read")
    await asyncio.sleep(0)
    assert path.read_bytes() == b"first read second read"
    transcript.close()


TOKENS = [
    b"eth0: link up ",
    b"\x1b[32m[    0.009048]\x1b[0m ",
    b"\x1b[1;31mSATA\x1b[0m",
    b"\x1b[38;5;208mwarn\x1b[m",
    b"\r\n",
    b"\t",
    b"\x07",
    "caf\u00e9 \u2500\u2500 \u4e2d ".encode(),
    b"\xe2\x82",
    b"\xff\x80",
    b"\x9b",
    b"\x1b]52;c;QUFBQQ==\x07",
    b"\x1b]0;title\x1b\\",
    b"\x1b[?1049h",
    b"\x1b[?1000h",
    b"\x1b[2;10r",
    b"\x0e",
    b"\x0f",
    b"\x1b(0",
    b"\x1b[5S",
    b"\x1b[1;2S",
    b"\x1b[38:2::1:2:3m",
    b"\x1b[6n",
    b"\x1b[12;40H",
    b"\x1b[2K",
    b"\x1b7",
    b"\x1bP1$r\x1b\\",
    b"\x1b[" + b"9" * 40 + b"m",
    b"\x18",
]


@pytest.mark.parametrize("policy", ["passthrough", "text"])
def test_the_filters_fast_runs_give_what_the_tokenizer_gives(policy: str) -> None:
    """Runs copied whole (text, layout controls, plain SGR and cursor moves) come out exactly as
    the byte-by-byte tokenizer makes them, however the stream is cut into reads."""
    rng = random.Random(14)
    stream = b"".join(rng.choice(TOKENS) for _ in range(20000))
    cuts = sorted(rng.sample(range(1, len(stream)), 3000))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    fast = TerminalFilter(policy)  # type: ignore[arg-type]
    slow = TerminalFilter(policy)  # type: ignore[arg-type]
    slow._safe_run = re.compile(rb"(?!)")  # never matches: every byte through the tokenizer
    assert b"".join(map(fast.feed, pieces)) == b"".join(map(slow.feed, pieces))
    assert fast.restore() == slow.restore()

"""Small terminals: at 80x24 the target list steps aside for the console, every dialog fits with
all its fields and buttons in sight, the footer says what it cannot show, and at 140 columns the
status line keeps the transcript path and the viewers whole.

The console is a real Unix-socket peer with telnet framing (BREAK, so SysRq is available).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import main_screen, make_config, open_console, target, until
from peers import ConsolePeer, echo
from textual.geometry import Region
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets._footer import FooterKey

from console_tui.ui.app import ConsoleApp
from console_tui.ui.dialogs._base import Dialog
from console_tui.ui.screens.main import MainScreen
from console_tui.ui.widgets.inventory import Inventory
from console_tui.ui.widgets.terminal import TerminalView

SMALL = (80, 24)


def box_target(sock_dir: Path) -> str:
    """NMI and reset available (a control is configured), SAC on: every dialog can open."""
    return target(
        "box",
        Path(f"{sock_dir / 'box.sock'}?telnet=1"),
        os="windows",
        control=f"qmp://{sock_dir}/box.qmp",
    )


def visible(widget: Widget, screen: Screen[object]) -> bool:
    """The whole widget is on the screen and inside its dialog's box."""
    inside = Region(0, 0, *screen.size)
    box = screen.query_one("#dialog").region
    return inside.contains_region(widget.region) and box.contains_region(widget.region)


DIALOGS: dict[str, Callable[[MainScreen], object]] = {
    "sysrq": MainScreen.action_sysrq,
    "function keys": MainScreen.action_function_keys,
    "sac": MainScreen.action_sac,
    "nmi": MainScreen.action_nmi,
    "search": MainScreen.action_search,
    "paste": lambda screen: screen.paste_text("x" * 5000),
}


@pytest.mark.parametrize("name", list(DIALOGS))
async def test_every_dialog_fits_80x24_and_tab_stays_in_sight(sock_dir: Path, name: str) -> None:
    async with ConsolePeer(sock_dir / "box.sock", b"C:\\> ", reply=echo):
        app = ConsoleApp(make_config(sock_dir, box_target(sock_dir)), blink=False, probe=False)
        async with app.run_test(size=SMALL) as pilot:
            await open_console(pilot, app, "box")
            screen = main_screen(app)
            DIALOGS[name](screen)
            await until(pilot, lambda: isinstance(app.screen, Dialog), f"the {name} dialog")
            dialog = app.screen
            await pilot.pause()
            await pilot.pause()
            shown = [w for w in dialog.query("#dialog *") if w.display and w.region]
            assert shown
            for widget in shown:
                assert visible(widget, dialog), f"{widget} is cut off at 80x24"
            focusable = [w for w in shown if w.focusable]
            for _ in range(len(focusable) + 1):
                await pilot.press("tab")
                assert dialog.focused is not None and visible(dialog.focused, dialog), (
                    f"Tab moved to {dialog.focused}, which is out of sight"
                )


async def test_the_target_list_steps_aside_at_80_columns(sock_dir: Path) -> None:
    async with ConsolePeer(sock_dir / "box.sock", b"C:\\> ", reply=echo):
        app = ConsoleApp(make_config(sock_dir, box_target(sock_dir)), blink=False, probe=False)
        async with app.run_test(size=SMALL) as pilot:
            screen = main_screen(app)
            inventory = screen.query_one(Inventory)
            assert inventory.display, "with no console open the list is all there is"
            pane = await open_console(pilot, app, "box")
            await pilot.pause()
            assert not inventory.display
            assert pane.terminal.region.width >= 76
            await until(pilot, lambda: isinstance(app.focused, TerminalView), "in the console")
            await pilot.press("ctrl+f6")
            await pilot.press("f6")
            assert inventory.display and app.focused is inventory.target_tree
            await pilot.press("f6")
            assert not inventory.display
            assert app.focused is pane.terminal, "hiding the list goes back into the console"
            # Going to the list (Ctrl+L, or "Leave console" in the palette) shows it again.
            await pilot.press("ctrl+f6")
            await pilot.press("ctrl+l")
            assert inventory.display and app.focused is inventory.target_tree
            # Hidden by hand, then the last console closed: the list is all there is.
            await pilot.press("f6")
            assert not inventory.display
            await screen.action_close_tab()
            assert inventory.display


@pytest.mark.parametrize("size", [SMALL, (140, 40)])
async def test_the_footer_says_what_it_cannot_show(sock_dir: Path, size: tuple[int, int]) -> None:
    async with ConsolePeer(sock_dir / "box.sock", b"C:\\> ", reply=echo):
        app = ConsoleApp(make_config(sock_dir, box_target(sock_dir)), blink=False, probe=False)
        async with app.run_test(size=size) as pilot:
            await open_console(pilot, app, "box")
            await until(pilot, lambda: isinstance(app.focused, TerminalView), "in the console")
            await pilot.press("ctrl+f6")
            screen = main_screen(app)
            footer = screen.query_one("KeysFooter")
            # The footer composes again once the focus has left the console (a loaded machine
            # takes more than two turns of the loop for that).
            await until(pilot, lambda: not isinstance(app.focused, TerminalView), "out of it")
            await until(pilot, lambda: footer._composed_for == footer._what_it_shows(), "footer")
            keys = [k for k in footer.query(FooterKey) if "-command-palette" not in k.classes]
            width = app.size.width
            for key in footer.query(FooterKey):
                assert key.description, f"{key.key_display} shown without its label"
                assert key.region.right <= width, f"{key.key_display} cut off"
            shown = {key.action for key in keys}
            offered = {b.action for b in MainScreen.BINDINGS if b.show}
            more = footer.query(".more-keys")
            if offered - shown:
                assert more, f"{offered - shown} left out without a word"
                assert "more: F1" in str(more.first().render()), "F1 lists them"
                assert more.first().region.right <= width
            else:
                assert not more
            assert "help" in shown, "F1, where the rest are listed, is always shown"
            assert "Ctrl+]" in [key.key_display for key in footer.query(FooterKey)]


@pytest.mark.parametrize("size", [SMALL, (140, 40)])
async def test_inside_a_console_the_footer_shows_what_keys_do_there(
    sock_dir: Path, size: tuple[int, int]
) -> None:
    async with ConsolePeer(sock_dir / "box.sock", b"C:\\> ", reply=echo):
        app = ConsoleApp(make_config(sock_dir, box_target(sock_dir)), blink=False, probe=False)
        async with app.run_test(size=size) as pilot:
            await open_console(pilot, app, "box")
            await until(pilot, lambda: isinstance(app.focused, TerminalView), "in the console")
            await pilot.pause()
            await pilot.pause()
            footer = main_screen(app).query_one("KeysFooter")
            shown = {key.key_display: key.description for key in footer.query(FooterKey)}
            assert shown.get("Ctrl+F6") == "Leave console"
            assert shown.get("Ctrl+]") == "palette"
            assert not [key for key in shown if key.startswith("F")], "F-keys go to the guest"
            assert "Ctrl+Q" not in shown and "Ctrl+W" not in shown
            assert "other keys go to box" in str(footer.query_one(".inside-words").render())
            status = main_screen(app).active_pane.query_one("#status")
            assert status.region.height <= 2, "the status line leaves the console its rows"


async def test_the_status_line_keeps_path_and_viewers_whole(sock_dir: Path) -> None:
    async with ConsolePeer(sock_dir / "box.sock", b"C:\\> ", reply=echo):
        app = ConsoleApp(make_config(sock_dir, box_target(sock_dir)), blink=False, probe=False)
        async with app.run_test(size=(140, 40)) as pilot:
            pane = await open_console(pilot, app, "box")
            other = await app.hub.attach("box", who="bob-the-second-operator", role="operator")
            await until(pilot, lambda: "bob" in pane.facts.viewers, "bob listed")
            await pilot.pause()
            status = pane.query_one("#status")
            words = str(status.render())
            path = app.hub.status("box").transcript
            assert path.rsplit("/", 1)[1] in words and "…" not in words
            assert "bob-the-second-operator (operator)" in words
            assert status.region.right <= 140
            await app.hub.detach(other)


def test_the_status_line_names_the_transcript_by_file_rather_than_cut_it() -> None:
    from console_tui.ui.widgets.status_line import SessionFacts

    facts = SessionFacts(
        target="demo",
        backing="unix",
        state="connected",
        writer="root",
        you="root",
        viewers="root (admin)",
        transcript="/var/lib/console-tui/state/transcripts/demo.log",
    )
    for width in (60, 78, 98):
        lines = [str(line) for line in facts.lines(width)]
        assert len(lines) <= 2 and all(len(line) <= width for line in lines), lines
        assert "…" not in "".join(lines), lines
        assert "demo.log" in lines[-1]
    assert "/var/lib/console-tui/state/transcripts/demo.log" in str(facts.text(200))

"""The app against real console peers: local Unix-socket servers playing a console's far end."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import APP_SIZE, main_screen, make_config, open_console, target, until
from peers import ConsolePeer, SacPeer, echo
from textual.widgets import Button

from console_tui.core import keys
from console_tui.ui.app import ConsoleApp
from console_tui.ui.dialogs.sac import SacDialog
from console_tui.ui.dialogs.sysrq import SysRqDialog


async def test_inventory_filter_and_open_tab(sock_dir: Path) -> None:
    config = make_config(
        sock_dir,
        target("web-01", sock_dir / "a.sock", group="prod"),
        target("db-01", sock_dir / "b.sock", group="prod"),
        target("lab-01", sock_dir / "c.sock", group="lab"),
    )
    async with ConsolePeer(sock_dir / "a.sock", b"web-01 login: ", reply=echo) as console:
        app = ConsoleApp(config, blink=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            screen = main_screen(app)
            inventory = screen.query_one("Inventory")
            await until(pilot, lambda: inventory.states["db-01"] == "unreachable", "probe")
            assert inventory.states["web-01"] == "reachable"
            await pilot.press("slash", *"web")
            await pilot.pause()
            leaves = [n.data for n in _nodes(inventory.target_tree.root) if n.data]
            assert leaves == ["web-01"]
            await pilot.press("enter")  # filter done: the tree has focus on web-01
            await pilot.press("enter")
            await until(pilot, lambda: screen.active_pane is not None, "a tab")
            pane = screen.active_pane
            await until(pilot, lambda: "web-01 login:" in pane.terminal.screen_text(), "greeting")
            assert app.focused is pane.terminal
            await pilot.press(*"root", "enter")
            await until(pilot, lambda: b"root\r" in console.received, "typed bytes")
            await until(pilot, lambda: "login: root" in pane.terminal.screen_text(), "echo")
            status = str(pane.query_one("#status").render())
            assert "write lock: you" in status and "backing: unix" in status
            assert "transcript:" in status
            # Ctrl+F6 leaves the console, Ctrl+F6 again goes back.
            await pilot.press("ctrl+f6")
            assert app.focused is not pane.terminal
            await pilot.press("ctrl+f6")
            assert app.focused is pane.terminal
            await screen.action_close_tab()
            await until(pilot, lambda: app.hub.status("web-01").viewers == 0, "detach")
            assert app.hub.status("web-01").state == "connected"  # the session stays


def _nodes(node):
    for child in node.children:
        yield child
        yield from _nodes(child)


async def test_palette_finds_actions_by_name(sock_dir: Path) -> None:
    config = make_config(sock_dir, target("web-01", sock_dir / "a.sock"))
    async with ConsolePeer(sock_dir / "a.sock", b"$ ", reply=echo):
        app = ConsoleApp(config, blink=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            await open_console(pilot, app, "web-01")
            from console_tui.ui.commands import console_commands

            names = [c.name for c in console_commands(main_screen(app))]
            for wanted in (
                "SysRq h: help",
                "SysRq b: reboot",
                "Send NMI",
                "Reset",
                "Function key F8",
            ):
                assert any(wanted in n for n in names), wanted
            assert any("SAC: new CMD channel" in n for n in names)
            await pilot.press("ctrl+right_square_bracket")
            await until(pilot, lambda: app.screen.__class__.__name__ == "CommandPalette", "palette")
            await pilot.press(*"SysRq h: help")
            await until(
                pilot,
                lambda: (
                    "SysRq h: help"
                    in str(app.screen.query_one("CommandList").get_option_at_index(0).prompt)
                ),
                "the SysRq h command",
            )


async def test_actions_disabled_with_reason(sock_dir: Path) -> None:
    """A raw Unix socket cannot carry BREAK and the target has no control backing."""
    config = make_config(sock_dir, target("web-01", sock_dir / "a.sock"))
    async with ConsolePeer(sock_dir / "a.sock", b"$ ", reply=echo) as console:
        app = ConsoleApp(config, blink=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "web-01")
            screen = main_screen(app)
            assert screen.unavailable("send_break")
            assert "control" in screen.unavailable("nmi")
            assert "Windows" in screen.unavailable("sac")
            assert screen.check_action("nmi", ()) is None  # greyed in the footer
            screen.action_sysrq()
            await until(
                pilot,
                lambda: isinstance(app.screen, SysRqDialog) and app.screen.query("#reason"),
                "SysRq dialog",
            )
            dialog = app.screen
            assert "Unavailable:" in str(dialog.query_one("#reason").render())
            assert dialog.query_one("#send", Button).disabled
            await pilot.press("escape")
            screen.action_nmi()
            await pilot.pause()
            assert "unavailable" in str(screen.query_one("#announce").render())
            assert bytes(console.received) == b""
            assert pane.viewer is not None


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("xterm", {"f1": b"\x1bOP", "f8": b"\x1b[19~", "home": b"\x1b[H", "up": b"\x1b[A"}),
        ("vt220", {"f1": b"\x1bOP", "f8": b"\x1b[19~", "home": b"\x1b[1~", "up": b"\x1b[A"}),
        ("vt100+", {"f1": b"\x1b1", "f8": b"\x1b8", "home": b"\x1bh", "up": b"\x1b[A"}),
    ],
)
async def test_keys_reach_the_peer_encoded_per_style(
    sock_dir: Path, style: str, expected: dict[str, bytes]
) -> None:
    """Each key press is read back at a real socket peer, as bytes, for each key style."""
    config = make_config(sock_dir, target("box", sock_dir / "k.sock", keys=style))
    async with ConsolePeer(sock_dir / "k.sock", b"> ") as console:
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            await open_console(pilot, app, "box")
            more = {
                "f12": keys.function_key(12, style),
                "delete": keys.encode_key("delete", style),
                "tab": b"\t",
                "ctrl+c": b"\x03",
                "ctrl+q": b"\x11",
                "escape": b"\x1b",
                "a": b"a",
            }
            for key, data in {**expected, **more}.items():
                before = len(console.received)
                await pilot.press(key)
                size = before + len(data)
                await until(pilot, lambda size=size: len(console.received) >= size, f"{key} bytes")
                assert bytes(console.received[before:]) == data, key
            # Application cursor mode (DECCKM) changes the arrows.
            main_screen(app).active_pane.terminal.screen_model.feed(b"\x1b[?1h")
            before = len(console.received)
            await pilot.press("up")
            await until(pilot, lambda: len(console.received) >= before + 3, "app-cursor up")
            assert bytes(console.received[before:]) == b"\x1bOA"


async def test_sac_prompt_and_channels(sock_dir: Path) -> None:
    """SAC actions against a peer that speaks SAC's protocol; no real Windows can run here."""
    sac = SacPeer()
    config = make_config(sock_dir, target("win-01", sock_dir / "s.sock", os="windows"))
    async with ConsolePeer(sock_dir / "s.sock", sac.greeting(), reply=sac) as console:
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "win-01")
            screen = main_screen(app)
            assert pane.target.keys == "vt100+"
            status = pane.query_one("#status")
            await until(pilot, lambda: "SAC> prompt" in str(status.render()), "SAC> prompt shown")
            assert pane.terminal.sac_prompt
            # Arrows are refused at the SAC> prompt, with a notice.
            before = len(console.received)
            await pilot.press("up")
            await until(
                pilot,
                lambda: "SAC> prompt" in str(screen.query_one("#announce").render()),
                "notice",
            )
            assert len(console.received) == before
            # New CMD channel through the dialog.
            screen.action_sac()
            await until(
                pilot,
                lambda: isinstance(app.screen, SacDialog) and app.screen.query("#actions"),
                "SAC dialog",
            )
            await pilot.press("down", "enter")  # second entry: new CMD channel
            await until(pilot, lambda: b"cmd\r" in console.received, "cmd sent")
            await until(pilot, lambda: "Cmd0001" in pane.terminal.screen_text(), "channel created")
            # List channels, then switch to channel 1 by number: SAC asks for nothing yet.
            screen.send_sac(keys.SAC_ACTIONS[0].data)
            await until(pilot, lambda: "Channel List" in pane.terminal.screen_text(), "ch listing")
            screen.send_sac(keys.sac_switch(1))
            await until(
                pilot,
                lambda: "Name:                  Cmd0001" in pane.terminal.screen_text(),
                "switched",
            )
            await until(pilot, lambda: not pane.terminal.sac_prompt, "prompt gone")
            # Esc Tab 0 goes back to SAC.
            back = next(a for a in keys.SAC_ACTIONS if a.name == "sac")
            screen.send_sac(back.data)
            await until(pilot, lambda: pane.terminal.sac_prompt, "back at SAC>")
            assert console.received.endswith(b"ch -si 1\r\x1b\t0")


async def test_long_paste_asks_then_is_paced(sock_dir: Path) -> None:
    config = make_config(sock_dir, target("box", sock_dir / "p.sock"))
    async with ConsolePeer(sock_dir / "p.sock", b"> ") as console:
        app = ConsoleApp(config, blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "box")
            screen = main_screen(app)
            screen.paste_text("echo hi\n")
            await until(pilot, lambda: b"echo hi\r" in console.received, "short paste")
            pane.terminal.screen_model.feed(b"\x1b[?2004h")
            pane.terminal.sync_now()
            text = "x" * (app.config.settings.paste_limit + 1)
            screen.paste_text(text)
            await until(
                pilot, lambda: app.screen.__class__.__name__ == "PasteDialog", "paste question"
            )
            await pilot.press("y")
            await until(pilot, lambda: console.received.endswith(b"\x1b[201~"), "bracketed paste")
            assert b"\x1b[200~" + text.encode() + b"\x1b[201~" in console.received


async def test_two_apps_share_a_session(sock_dir: Path) -> None:
    """A second viewer on the same Hub sees the session and cannot type while the first writes."""
    config = make_config(sock_dir, target("box", sock_dir / "t.sock"))
    async with ConsolePeer(sock_dir / "t.sock", b"login: ", reply=echo) as console:
        app = ConsoleApp(config, blink=False, probe=False, who="alice")
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "box")
            other = await app.hub.attach("box", who="bob", role="operator", write=True)
            await until(pilot, lambda: "bob" in pane.facts.viewers, "bob listed")
            from console_tui.core.errors import NotPermittedError

            with pytest.raises(NotPermittedError):
                await app.hub.write(other, b"rm -rf /\r")
            assert b"rm -rf" not in console.received
            await app.hub.detach(other)


def test_status_line_shows_the_transcript_under_home_as_tilde(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from console_tui.ui.widgets.status_line import SessionFacts

    monkeypatch.setenv("HOME", "/home/op")
    facts = SessionFacts(
        target="vm", transcript="/home/op/.local/state/console-tui/transcripts/vm.log"
    )
    assert str(facts.text()).endswith("transcript: ~/.local/state/console-tui/transcripts/vm.log")
    elsewhere = SessionFacts(target="vm", transcript="/var/lib/ct/vm.log")
    assert str(elsewhere.text()).endswith("transcript: /var/lib/ct/vm.log")

"""Boot menu key plans and the watch's words, without a guest: what is sent for each helper, how bad
input is refused (before anything reaches a line), and the reason given when nothing came."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import cli, target, wait_for
from peers import ConsolePeer

from console_tui.core import bootmenu, config
from console_tui.core.hub import Hub
from console_tui.core.keys import Step
from console_tui.core.passthrough import Passthrough


def _sent(plan: list[Step]) -> bytes:
    return b"".join(step.data for step in plan if step.kind in ("send", "echo"))


def test_each_helper_sends_grub_keys() -> None:
    assert _sent(bootmenu.helper_plan("entry", "3")[0]) == b"\x1b[H\x1b[B\x1b[B\r"
    assert _sent(bootmenu.helper_plan("edit")[0]) == b"e"
    assert _sent(bootmenu.helper_plan("boot")[0]) == b"\x18"
    assert _sent(bootmenu.helper_plan("command-line")[0]) == b"c"
    plan, said = bootmenu.helper_plan("append", "rescue")
    assert _sent(plan) == b"e\x1b[B\x1b[B\x05 systemd.unit=rescue.target\x18"
    assert "systemd.unit=rescue.target" in said
    # Every key waits for the loader's redraw; typed text goes a character at a time.
    assert [s.data for s in plan if s.kind == "echo"][:7] == [
        b"e",
        b"\x1b[B",
        b"\x1b[B",
        b"\x05",
        b" ",
        b"s",
        b"y",
    ]
    assert bootmenu.split_keys(b"\x1b[B\x1b[21~x\x1bOQ") == [
        b"\x1b[B",
        b"\x1b[21~",
        b"x",
        b"\x1bOQ",
    ]


def test_a_kernel_line_is_read_across_its_wrapped_rows_and_mended() -> None:
    rows = [
        " |setparams 'x'" + " " * 62 + "|",
        " |" + " " * 76 + "|",
        " |  linux /vmlinuz " + "a" * 58 + "\\|",
        " |" + "b" * 10 + " " * 66 + "|",
    ]
    assert bootmenu.kernel_line(rows) == 2
    assert bootmenu.editor_lines(rows)[2] == "  linux /vmlinuz " + "a" * 58 + "b" * 10
    # A repeated key is mended from where the line goes wrong: one Backspace per extra key.
    mend = bootmenu.correction_plan("x 0133ab", "x 013ab")
    assert _sent(mend) == b"\x08" * 3 + b"ab"
    assert bootmenu.correction_plan("same", "same") == []


@pytest.mark.parametrize(
    ("action", "value", "words"),
    [
        ("entry", "0", "a number from 1"),
        ("select", "-1", "a number from 1"),
        ("entry", "two", "a number from 1"),
        ("append", "a\nb", "printable text on one line"),
        ("append", " ", "printable text on one line"),
        ("reboot", "", "unknown boot menu helper"),
    ],
)
def test_bad_helper_input_is_refused(action: str, value: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        bootmenu.helper_plan(action, value)


def test_send_refuses_a_bad_entry_before_touching_the_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[[target]]\nname = "box"\nconsole = "unix:///nonexistent/box.sock"\n')
    done = cli("--config", str(config), "send", "box", "--boot-entry", "0")
    assert done.returncode == 2
    assert "--boot-entry: a menu entry is a number from 1" in done.stderr


async def test_a_silent_console_gives_the_reason() -> None:
    watch = bootmenu.MenuWatch(bootmenu.MenuKind.FIRMWARE)
    sent: list[bytes] = []

    async def send(data: bytes) -> None:
        sent.append(data)

    with pytest.raises(TimeoutError, match="printed nothing"):
        await bootmenu.hold_menu(watch, asyncio.Queue(), send, timeout=0.3)
    assert sent == []


async def test_a_kernel_before_the_menu_ends_the_wait_at_once() -> None:
    """A direct-boot guest: the kernel's first line says the menu will not come this boot."""
    output: asyncio.Queue[bytes] = asyncio.Queue()
    output.put_nowait(b"[    0.000000] Linux version 6.1.0 (gcc 12)\r\n")

    async def send(data: bytes) -> None:
        raise AssertionError(f"nothing should be sent, not {data!r}")

    with pytest.raises(TimeoutError, match="straight to its kernel"):
        await bootmenu.hold_menu(bootmenu.MenuWatch(), output, send, timeout=600)


async def test_attach_menu_offers_the_boot_menu_actions(tmp_path: Path) -> None:
    """attach's `~?` menu, in process against a real socket peer: entry 2's keys reach the line;
    reset into the boot menu says why not on a target without a control."""
    sock = tmp_path / "vm.sock"
    path = tmp_path / "config.toml"
    path.write_text(target("vm", sock))
    async with ConsolePeer(sock, b"GNU GRUB\r\n") as console:
        hub = Hub(config.load(path))
        try:
            viewer = await hub.attach("vm", wait=5)
            shown = bytearray()
            passthrough = Passthrough(hub, viewer, shown.extend, size=lambda: (80, 200))
            labels = [item.label for item in passthrough.menu()]
            for label, keys in (
                ("Boot menu: boot entry 2", b"\x1b[H\x1b[B\r"),
                ("Boot menu: reset and hold GRUB's menu", b""),
            ):
                before = len(console.received)
                await passthrough.feed(b"\r~?")
                await passthrough.feed(f"{labels.index(label) + 1}\r".encode())
                if keys:
                    await asyncio.to_thread(console_has, console, before + len(keys))
                assert bytes(console.received[before:]).removeprefix(b"\r") == keys
            assert "unavailable: no control backing" in shown.decode()
        finally:
            await hub.close()


def console_has(console: ConsolePeer, size: int) -> None:
    wait_for(lambda: len(console.received) >= size, f"{size} bytes at the peer")

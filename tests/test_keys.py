"""Keys: the exact bytes of every key in every style, SysRq plans, SAC actions, paste pacing."""

from __future__ import annotations

import pytest

from console_tui.core import keys
from console_tui.core.keys import Step, encode_key, sysrq_plan

XTERM_F = [
    b"\x1bOP",
    b"\x1bOQ",
    b"\x1bOR",
    b"\x1bOS",
    b"\x1b[15~",
    b"\x1b[17~",
    b"\x1b[18~",
    b"\x1b[19~",
    b"\x1b[20~",
    b"\x1b[21~",
    b"\x1b[23~",
    b"\x1b[24~",
]
VT100_PLUS_F = [b"\x1b" + bytes([c]) for c in b"1234567890!@"]


@pytest.mark.parametrize(
    ("style", "expected"),
    [("xterm", XTERM_F), ("vt220", XTERM_F), ("vt100+", VT100_PLUS_F)],
)
def test_function_keys(style: str, expected: list[bytes]) -> None:
    for number, sequence in enumerate(expected, start=1):
        assert encode_key(f"f{number}", style) == sequence
        assert encode_key(f"F{number}", style, app_cursor=True) == sequence
        assert keys.function_key(number, style) == sequence


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            "xterm",
            {
                "home": b"\x1b[H",
                "end": b"\x1b[F",
                "insert": b"\x1b[2~",
                "delete": b"\x1b[3~",
                "pgup": b"\x1b[5~",
                "pgdn": b"\x1b[6~",
                "backspace": b"\x7f",
            },
        ),
        (
            "vt220",
            {
                "home": b"\x1b[1~",
                "end": b"\x1b[4~",
                "insert": b"\x1b[2~",
                "delete": b"\x1b[3~",
                "pgup": b"\x1b[5~",
                "pgdn": b"\x1b[6~",
                "backspace": b"\x7f",
            },
        ),
        (
            "vt100+",
            {
                "home": b"\x1bh",
                "end": b"\x1bk",
                "insert": b"\x1b+",
                "delete": b"\x1b-",
                "pgup": b"\x1b?",
                "pgdn": b"\x1b/",
                "backspace": b"\x08",
            },
        ),
    ],
)
def test_editing_keys(style: str, expected: dict[str, bytes]) -> None:
    for name, sequence in expected.items():
        assert encode_key(name, style) == sequence, name


def test_xterm_home_end_follow_cursor_key_mode() -> None:
    assert encode_key("home", "xterm", app_cursor=True) == b"\x1bOH"
    assert encode_key("end", "xterm", app_cursor=True) == b"\x1bOF"
    assert encode_key("home", "vt220", app_cursor=True) == b"\x1b[1~"


@pytest.mark.parametrize("style", keys.KEY_STYLES)
def test_arrows_follow_cursor_key_mode(style: str) -> None:
    for name, final in (("up", b"A"), ("down", b"B"), ("right", b"C"), ("left", b"D")):
        assert encode_key(name, style) == b"\x1b[" + final
        assert encode_key(name, style, app_cursor=True) == b"\x1bO" + final


def test_plain_keys_aliases_and_control_keys() -> None:
    assert encode_key("esc", "xterm") == b"\x1b"
    assert encode_key("Escape", "vt100+") == b"\x1b"
    assert encode_key("tab", "xterm") == b"\t"
    assert encode_key("shift+tab", "xterm") == b"\x1b[Z"
    assert encode_key("enter", "xterm") == b"\r"
    assert encode_key("del", "xterm") == encode_key("delete", "xterm") == b"\x1b[3~"
    assert encode_key("PageDown", "vt100+") == b"\x1b/"
    assert encode_key("ctrl+c", "xterm") == b"\x03"
    assert encode_key("ctrl-c", "xterm") == b"\x03"
    assert encode_key("Ctrl+A", "xterm") == b"\x01"
    assert encode_key("ctrl+z", "xterm") == b"\x1a"
    assert encode_key("ctrl+[", "xterm") == b"\x1b"
    assert encode_key("ctrl+]", "xterm") == b"\x1d"
    assert encode_key("ctrl+@", "xterm") == b"\x00"


def test_every_listed_name_encodes_in_every_style() -> None:
    for style in keys.KEY_STYLES:
        for name in keys.KEY_NAMES:
            assert encode_key(name, style), (name, style)


def test_unknown_key_suggests_and_lists() -> None:
    with pytest.raises(ValueError, match=r"unknown key 'f13'; did you mean .*'f12'") as caught:
        encode_key("f13", "xterm")
    assert "Known: f1, f2" in str(caught.value)
    assert "pgdn" in str(caught.value) and "ctrl+a .. ctrl+z" in str(caught.value)
    with pytest.raises(ValueError, match="did you mean 'pgup'"):
        encode_key("pgupp", "xterm")
    with pytest.raises(ValueError, match="unknown key style 'vt100'; did you mean 'vt100\\+'"):
        encode_key("f1", "vt100")
    with pytest.raises(ValueError, match="F1 to F12"):
        keys.function_key(0, "xterm")


def test_boot_shortcuts_are_key_and_description() -> None:
    shortcut = dict(keys.BOOT_SHORTCUTS)
    assert "Windows" in shortcut["F8"]
    assert "GRUB" in shortcut["Esc"]
    assert "setup" in shortcut["F2"] and "setup" in shortcut["Del"]
    assert "boot device" in shortcut["F12"]


def test_sysrq_table_covers_the_kernel_keys() -> None:
    for key in "bcefhijklmnopqrstuvwxz0123456789":
        assert key in keys.SYSRQ_KEYS
    assert "reboot" in keys.SYSRQ_KEYS["b"]
    assert "kernel.sysrq" in keys.SYSRQ_NOTE


def test_sysrq_single_key_is_break_then_key() -> None:
    settle = Step("sleep", seconds=keys.BREAK_SETTLE_SECONDS)
    assert sysrq_plan("h") == [Step("break"), settle, Step("send", b"h")]


def test_reisub_breaks_before_every_key_and_pauses_longer_after_sync_and_unmount() -> None:
    plan = sysrq_plan("REISUB", pause=2.0)
    assert [step.kind for step in plan].count("break") == 6
    assert [step.data for step in plan if step.kind == "send"] == [bytes([c]) for c in b"reisub"]
    settle = keys.BREAK_SETTLE_SECONDS
    pauses = [step.seconds for step in plan if step.kind == "sleep" and step.seconds != settle]
    assert pauses == [2.0, 2.0, 2.0, 4.0, 4.0]
    for index, step in enumerate(plan):
        if step.kind == "send":
            assert plan[index - 2].kind == "break" and plan[index - 1].seconds == settle
    assert plan[-1] == Step("send", b"b")


def test_unknown_sysrq_key_lists_the_keys() -> None:
    with pytest.raises(ValueError, match=r"unknown SysRq key '!'\. Known: b \(reboot"):
        sysrq_plan("s!")
    with pytest.raises(ValueError, match="no SysRq key"):
        sysrq_plan(" ")


def test_sac_actions() -> None:
    actions = {action.name: action.data for action in keys.SAC_ACTIONS}
    assert actions == {"channels": b"ch\r", "cmd": b"cmd\r", "next": b"\x1b\t", "sac": b"\x1b\t0"}
    assert keys.sac_switch(3) == b"ch -si 3\r"
    assert keys.SAC_PROMPT == b"SAC>"
    assert "no VT100" in keys.SAC_NOTE
    with pytest.raises(ValueError):
        keys.sac_switch(-1)


def test_pace_delay_counts_ten_bits_a_byte() -> None:
    assert keys.pace_delay(11520, 115200) == pytest.approx(1.0)
    assert keys.pace_delay(0, 9600) == 0
    with pytest.raises(ValueError):
        keys.pace_delay(10, 0)

"""What to send down a serial line for a key, a SysRq command, a SAC action or a boot menu.

Pure functions and data, no I/O: the UI, `attach` and `send` all use these, so every path sends
the same bytes.

Key styles (a target's `keys` setting):

- `xterm`: F1-F4 ESC O P..S, F5-F12 ESC [15~ .. ESC [24~; Home/End ESC [H / ESC [F (ESC O H /
  ESC O F in application cursor mode); Insert, Delete, PgUp, PgDn ESC [2~ [3~ [5~ [6~.
- `vt220`: the same function keys as xterm (F1-F4 stay ESC O P..S, what DESIGN.md fixes and what
  BIOS and Linux serial consoles understand, rather than rxvt's ESC [11~..[14~); Home and End are
  the VT220 editing keys ESC [1~ and ESC [4~.
- `vt100+`: Microsoft's EMS keys for Windows SAC and many BIOS redirections: F1-F9 ESC 1..9,
  F10 ESC 0, F11 ESC !, F12 ESC @, Home ESC h, End ESC k, Insert ESC +, Delete ESC -, PgUp ESC ?,
  PgDn ESC /, Backspace BS (0x08). A lone ESC counts there only after about 2 s of quiet.

Arrows follow the guest's cursor-key mode (DECCKM) in every style: ESC O A in application mode,
ESC [ A otherwise.
"""

from __future__ import annotations

import difflib
import re
from typing import NamedTuple

KEY_STYLES = ("xterm", "vt220", "vt100+")

ESC = b"\x1b"
CSI = b"\x1b["
SS3 = b"\x1bO"

LONE_ESC_QUIET_SECONDS = 2.0
"""A VT100+ guest takes ESC as the Esc key only after this much quiet; send nothing right after."""

_XTERM_FUNCTION_KEYS = {
    1: SS3 + b"P",
    2: SS3 + b"Q",
    3: SS3 + b"R",
    4: SS3 + b"S",
    5: CSI + b"15~",
    6: CSI + b"17~",
    7: CSI + b"18~",
    8: CSI + b"19~",
    9: CSI + b"20~",
    10: CSI + b"21~",
    11: CSI + b"23~",
    12: CSI + b"24~",
}

FUNCTION_KEYS: dict[str, dict[int, bytes]] = {
    "xterm": _XTERM_FUNCTION_KEYS,
    "vt220": dict(_XTERM_FUNCTION_KEYS),
    "vt100+": {n: ESC + b"1234567890!@"[n - 1 : n] for n in range(1, 13)},
}
"""Function keys F1-F12 by style."""

_XTERM_EDITING = {
    "insert": CSI + b"2~",
    "delete": CSI + b"3~",
    "pgup": CSI + b"5~",
    "pgdn": CSI + b"6~",
    "backspace": b"\x7f",
}

EDITING_KEYS: dict[str, dict[str, bytes]] = {
    "xterm": {**_XTERM_EDITING, "home": CSI + b"H", "end": CSI + b"F"},
    "vt220": {**_XTERM_EDITING, "home": CSI + b"1~", "end": CSI + b"4~"},
    "vt100+": {
        "home": ESC + b"h",
        "end": ESC + b"k",
        "insert": ESC + b"+",
        "delete": ESC + b"-",
        "pgup": ESC + b"?",
        "pgdn": ESC + b"/",
        "backspace": b"\x08",
    },
}
"""Home, End, Insert, Delete, PgUp, PgDn and Backspace by style."""

_ARROWS = {"up": b"A", "down": b"B", "right": b"C", "left": b"D"}

_PLAIN_KEYS = {
    "esc": ESC,
    "tab": b"\t",
    "backtab": CSI + b"Z",
    "enter": b"\r",
    "space": b" ",
}

_ALIASES = {
    "escape": "esc",
    "return": "enter",
    "del": "delete",
    "ins": "insert",
    "pageup": "pgup",
    "pagedown": "pgdn",
    "pgdown": "pgdn",
    "shift+tab": "backtab",
    "bs": "backspace",
}

_CTRL_CHARS = "@abcdefghijklmnopqrstuvwxyz[\\]^_"

KEY_NAMES: list[str] = [
    *(f"f{n}" for n in range(1, 13)),
    *_PLAIN_KEYS,
    *_XTERM_EDITING,
    "home",
    "end",
    *_ARROWS,
    *(f"ctrl+{c}" for c in _CTRL_CHARS),
]
"""Every name `encode_key` knows (aliases such as `del`, `pageup` and `ctrl-c` also work)."""


def encode_key(name: str, style: str = "xterm", *, app_cursor: bool = False) -> bytes:
    """The bytes a terminal of `style` sends for the key `name` (e.g. `f8`, `up`, `ctrl+c`)."""
    _check_style(style)
    key = _canonical(name)
    if key.startswith("f") and key[1:].isdigit() and 1 <= int(key[1:]) <= 12:
        return FUNCTION_KEYS[style][int(key[1:])]
    if key in _ARROWS:
        return (SS3 if app_cursor else CSI) + _ARROWS[key]
    if key in ("home", "end") and style == "xterm" and app_cursor:
        return SS3 + (b"H" if key == "home" else b"F")
    if key in EDITING_KEYS[style]:
        return EDITING_KEYS[style][key]
    if key in _PLAIN_KEYS:
        return _PLAIN_KEYS[key]
    if key.startswith("ctrl+") and len(key) == 6 and key[5] in _CTRL_CHARS:
        return bytes([_CTRL_CHARS.index(key[5])])
    raise ValueError(_unknown("key", name, KEY_NAMES, shown=KEY_NAMES[: -len(_CTRL_CHARS)]))


_TERMINAL_KEY_NAMES = {
    "ctrl+backslash": "ctrl+\\",
    "ctrl+circumflex_accent": "ctrl+^",
    "ctrl+underscore": "ctrl+_",
    "ctrl+left_square_bracket": "ctrl+[",
    "ctrl+right_square_bracket": "ctrl+]",
    "ctrl+at": "ctrl+@",
    "ctrl+space": "ctrl+@",
}
_EVENT_KEY_NAMES = {*KEY_NAMES, "escape", "pageup", "pagedown", "shift+tab", "delete", "insert"}


def encode_key_event(
    key: str, character: str | None, style: str, *, app_cursor: bool
) -> bytes | None:
    """The bytes a key press sends to a console of key `style`, or None for keys that send nothing.

    `key` is the terminal's name for the key (`up`, `ctrl+c`, `alt+x`, `ctrl+backslash`) and
    `character` what it types, as a full-screen app reads them from the operator's terminal."""
    name = _TERMINAL_KEY_NAMES.get(key, key)
    if name in _EVENT_KEY_NAMES:
        return encode_key(name, style, app_cursor=app_cursor)
    if name.startswith("alt+"):
        rest = encode_key_event(name[4:], character, style, app_cursor=app_cursor)
        return None if rest is None else ESC + rest
    for prefix in ("shift+", "ctrl+shift+", "ctrl+"):
        if name.startswith(prefix) and name[len(prefix) :] in _EVENT_KEY_NAMES:
            return encode_key(name[len(prefix) :], style, app_cursor=app_cursor)
    if character and (character.isprintable() or character in "\r\t\x1b"):
        return character.encode("utf-8", "surrogateescape")
    if character and len(character) == 1 and ord(character) < 0x20:
        return character.encode()
    return None


def function_key(number: int, style: str = "xterm") -> bytes:
    """F`number` (1-12) in `style`."""
    _check_style(style)
    if number not in FUNCTION_KEYS[style]:
        raise ValueError(f"no function key F{number}: function keys are F1 to F12")
    return FUNCTION_KEYS[style][number]


def _canonical(name: str) -> str:
    key = name.strip().lower().replace(" ", "")
    for prefix in ("ctrl-", "control-", "control+", "c-", "^"):
        if key.startswith(prefix) and len(key) > len(prefix):
            key = "ctrl+" + key[len(prefix) :]
            break
    return _ALIASES.get(key, key)


def _check_style(style: str) -> None:
    if style not in KEY_STYLES:
        raise ValueError(_unknown("key style", style, list(KEY_STYLES)))


def _unknown(what: str, name: str, known: list[str], *, shown: list[str] | None = None) -> str:
    close = difflib.get_close_matches(name.strip().lower(), known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listed = ", ".join(shown if shown is not None else known)
    extra = ", ctrl+a .. ctrl+z" if shown is not None else ""
    return f"unknown {what} {name!r}{hint} Known: {listed}{extra}"


BOOT_SHORTCUTS: list[tuple[str, str]] = [
    ("Esc", "GRUB menu (hold or tap while booting) / BIOS setup on many boards"),
    ("Shift", "GRUB menu on BIOS machines when the menu is hidden (hold while booting)"),
    ("F2", "BIOS/UEFI setup (Dell, Lenovo, many others; OVMF)"),
    ("Del", "BIOS/UEFI setup (ASUS, Gigabyte, MSI, Supermicro)"),
    ("F8", "Windows advanced boot options (legacy boot)"),
    ("F10", "BIOS setup (HP) or boot menu"),
    ("F11", "boot device menu (Supermicro, MSI, ASRock)"),
    ("F12", "boot device menu (Dell, Lenovo, QEMU SeaBIOS uses Esc)"),
    ("e", "GRUB: edit the selected entry (add console=ttyS0 or single there)"),
    ("c", "GRUB: command line"),
]
"""Keys pressed during boot and what they usually open. Boards differ: a hint, not a rule."""


SYSRQ_KEYS: dict[str, str] = {
    "b": "reboot now, without syncing or unmounting",
    "c": "crash the kernel (crash dump if configured)",
    "d": "show all held locks",
    "e": "SIGTERM to all processes except init",
    "f": "run the OOM killer",
    "g": "enter kgdb (kernel debugger)",
    "h": "help: list the keys",
    "i": "SIGKILL to all processes except init",
    "j": "thaw filesystems frozen by FIFREEZE",
    "k": "secure access key: kill all programs on the current console",
    "l": "backtrace of all active CPUs",
    "m": "dump memory info",
    "n": "make real-time tasks nice-able",
    "o": "power off",
    "p": "dump registers and flags",
    "q": "dump armed hrtimers and clock event devices",
    "r": "keyboard out of raw mode (unraw)",
    "s": "sync all mounted filesystems",
    "t": "dump the task list",
    "u": "remount all filesystems read-only",
    "v": "restore the framebuffer console",
    "w": "dump blocked (uninterruptible) tasks",
    "x": "xmon (ppc), PMU registers (sparc64), TLB dump (MIPS)",
    "y": "global CPU registers (sparc64)",
    "z": "dump the ftrace buffer",
    **{str(n): f"console log level {n}" for n in range(10)},
}
"""The kernel's SysRq commands (Documentation/admin-guide/sysrq.rst)."""

DANGEROUS_SYSRQ = "bco"
"""SysRq keys that take the machine down at once (reboot, crash, power off): every way in asks
first, as for NMI and reset."""


def dangerous_sysrq(sysrq_keys: str) -> str:
    """The keys of `sysrq_keys` that take the machine down at once, each once, in order."""
    return "".join(dict.fromkeys(k for k in sysrq_keys.lower() if k in DANGEROUS_SYSRQ))


def sysrq_question(sysrq_keys: str, target: str) -> tuple[str, str]:
    """The question to ask before sending a dangerous SysRq key or sequence, and what it does."""
    wanted = sysrq_keys.lower()
    what = "; ".join(f"{k}: {SYSRQ_KEYS[k]}" for k in dangerous_sysrq(wanted))
    return f"Send SysRq {wanted} to {target}?", f"It takes the machine down at once ({what})."


SYSRQ_NOTE = (
    "The guest's kernel.sysrq setting decides which keys act; "
    "the console cannot see it. Send BREAK, then the key within 5 s."
)

BREAK_SETTLE_SECONDS = 0.2
"""Between BREAK and its key: a UART that flags BREAK for a whole FIFO read (QEMU's 8250 does)
would otherwise swallow a key that arrives in the same read."""

SYSRQ_SLOW_KEYS = "su"
"""Sync and remount read-only need time: the pause after them is doubled."""

SYSRQ_MAX_KEYS = 32
SYSRQ_MAX_PAUSE = 60.0
"""A SysRq plan holds the line while it runs: its length and pauses are bounded."""


class Step(NamedTuple):
    """One step of a SysRq plan: `break`, `send` (with `data`) or `sleep` (for `seconds`)."""

    kind: str
    data: bytes = b""
    seconds: float = 0.0


def sysrq_plan(keys: str, pause: float = 2.0) -> list[Step]:
    """BREAK then the key, for each key of `keys` (e.g. `h`, `reisub`), pausing between keys."""
    wanted = "".join(keys.split()).lower()
    if not wanted:
        raise ValueError(f"no SysRq key given. Known: {_sysrq_key_list()}")
    if len(wanted) > SYSRQ_MAX_KEYS:
        raise ValueError(
            f"{len(wanted)} SysRq keys at once; at most {SYSRQ_MAX_KEYS} (reisub is 6)"
        )
    if not 0 <= pause <= SYSRQ_MAX_PAUSE:
        raise ValueError(f"a pause of {pause:g} s between SysRq keys; use 0 to {SYSRQ_MAX_PAUSE:g}")
    for key in wanted:
        if key not in SYSRQ_KEYS:
            raise ValueError(f"unknown SysRq key {key!r}. Known: {_sysrq_key_list()}")
    plan: list[Step] = []
    for index, key in enumerate(wanted):
        plan += [
            Step("break"),
            Step("sleep", seconds=BREAK_SETTLE_SECONDS),
            Step("send", key.encode()),
        ]
        if index < len(wanted) - 1:
            plan.append(Step("sleep", seconds=pause * 2 if key in SYSRQ_SLOW_KEYS else pause))
    return plan


def _sysrq_key_list() -> str:
    return ", ".join(f"{key} ({what})" for key, what in SYSRQ_KEYS.items())


class SacAction(NamedTuple):
    """A Windows Special Administration Console action and the bytes that do it."""

    name: str
    description: str
    data: bytes


SAC_PROMPT = b"SAC>"
SAC_NOTE = (
    "The SAC> prompt understands no VT100 sequences: type commands, never arrows. "
    "A channel asks for credentials after Enter."
)

SAC_ACTIONS: list[SacAction] = [
    SacAction("channels", "list channels (ch)", b"ch\r"),
    SacAction("cmd", "open a new CMD channel (cmd)", b"cmd\r"),
    SacAction("next", "next channel (Esc Tab)", b"\x1b\t"),
    SacAction("sac", "back to SAC (Esc Tab 0)", b"\x1b\t0"),
]


_VT_SEQUENCE = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1bO.", re.DOTALL)


def at_sac_prompt(cursor_row_text: str) -> bool:
    """Whether the text before the cursor is Windows SAC's own prompt."""
    return cursor_row_text.lstrip().startswith(SAC_PROMPT.decode())


def sac_prompt_filter(data: bytes) -> tuple[bytes, str]:
    """What of `data` may go to the SAC> prompt, and why the rest may not (empty when all may).

    SAC's prompt understands no VT100 sequences: an arrow there is garbage on its command line.
    Every way in (the app, `attach`, `ssh console@host NAME`) goes through this one rule."""
    refused = [match.group() for match in _VT_SEQUENCE.finditer(data)]
    if not refused:
        return data, ""
    names = " ".join(dict.fromkeys(_sequence_name(sequence) for sequence in refused))
    return _VT_SEQUENCE.sub(b"", data), f"{names} not sent: {SAC_PROMPT_REFUSAL}"


SAC_PROMPT_REFUSAL = "the SAC> prompt understands no VT100 keys"


def _sequence_name(sequence: bytes) -> str:
    for name in KEY_NAMES:
        for app_cursor in (False, True):
            if any(
                encode_key(name, style, app_cursor=app_cursor) == sequence
                for style in ("xterm", "vt220")
            ):
                return name
    return "a VT100 sequence"


def sac_switch(number: int) -> bytes:
    """`ch -si N`: switch to SAC channel `number`."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise ValueError(f"a SAC channel number is a whole number from 0, not {number!r}")
    return f"ch -si {number}\r".encode()


def pace_delay(nbytes: int, baud: int) -> float:
    """Seconds a line at `baud` needs for `nbytes` (10 bits a byte: start, 8 data, stop)."""
    if baud <= 0:
        raise ValueError(f"baud must be positive, not {baud}")
    return nbytes * 10 / baud

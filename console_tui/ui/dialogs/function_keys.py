"""Boot and function keys: F1-F12, Esc, Del, Tab, arrows and named boot shortcuts."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from console_tui.core import bootmenu, keys
from console_tui.ui.dialogs._base import Dialog

NAMED_KEYS = [
    ("esc", "Esc"),
    ("delete", "Del"),
    ("tab", "Tab"),
    ("backtab", "Shift+Tab"),
    ("enter", "Enter"),
    ("up", "Up"),
    ("down", "Down"),
    ("left", "Left"),
    ("right", "Right"),
    ("home", "Home"),
    ("end", "End"),
    ("insert", "Insert"),
    ("pgup", "PgUp"),
    ("pgdn", "PgDn"),
    ("backspace", "Backspace"),
]
_SHORTCUT_KEYS = {"Esc": "esc", "Del": "delete"}


def shown_bytes(data: bytes) -> str:
    """Bytes as an operator reads them: `ESC [ 1 9 ~` for the xterm F8."""
    names = {0x1B: "ESC", 0x7F: "DEL", 0x08: "BS", 0x09: "TAB", 0x0D: "CR"}
    return " ".join(names.get(b, chr(b) if 0x20 < b < 0x7F else f"0x{b:02x}") for b in data)


def boot_shortcuts() -> list[tuple[str, str, str]]:
    """(key name or literal text, label, hint) for each boot shortcut that a serial line can carry."""
    found = []
    for key, hint in keys.BOOT_SHORTCUTS:
        if key == "Shift":
            continue
        name = _SHORTCUT_KEYS.get(key, key.lower() if key.startswith("F") else key)
        found.append((name, f"{key}: {hint}", hint))
    return found


def boot_menu_helpers() -> list[tuple[str, str]]:
    """(id, label) of each boot menu action: `bootmenu:hold:grub` resets into GRUB's menu,
    `bootmenu:ACTION:VALUE` is a GRUB helper sent as paced keys (core/bootmenu.py)."""
    helpers = [
        ("bootmenu:hold:grub", "reset and hold GRUB's menu"),
        ("bootmenu:hold:firmware", "reset into the firmware's (SeaBIOS menu, UEFI setup)"),
    ]
    helpers += [(f"bootmenu:entry:{n}", f"boot entry {n}") for n in range(1, 6)]
    helpers += [
        ("bootmenu:edit:", "edit the selected entry (e)"),
        ("bootmenu:boot:", "boot the edited entry (Ctrl+X)"),
        ("bootmenu:command-line:", "GRUB command line (c)"),
    ]
    helpers += [
        (f"bootmenu:append:{arg}", f"append {arg} to the kernel line and boot")
        for arg in bootmenu.KERNEL_EDITS.values()
    ]
    return helpers


class FunctionKeysDialog(Dialog[str]):
    """Pick a key; dismisses its name (`f8`, `esc`), literal text (`e`), or a boot menu action
    (`bootmenu:...`) for the caller to send."""

    def __init__(self, target: str, style: str, *, app_cursor: bool = False) -> None:
        super().__init__()
        self.target = target
        self.style = style
        self.app_cursor = app_cursor

    def compose(self) -> ComposeResult:
        options: list[Option | None] = []
        for number in range(1, 13):
            data = keys.function_key(number, self.style)
            options.append(Option(f"F{number:<10} {shown_bytes(data)}", id=f"f{number}"))
        options.append(None)
        for name, label in NAMED_KEYS:
            data = keys.encode_key(name, self.style, app_cursor=self.app_cursor)
            options.append(Option(f"{label:<11} {shown_bytes(data)}", id=name))
        options.append(None)
        for name, label, _hint in boot_shortcuts():
            options.append(Option(f"Boot: {label}", id=f"boot:{name}"))
        options.append(None)
        for helper_id, label in boot_menu_helpers():
            options.append(Option(f"Boot menu: {label}", id=helper_id))
        with Vertical(id="dialog"):
            yield Label(f"Send a key to {self.target} ({self.style} keys)", classes="title")
            yield OptionList(*options, id="keys")
            yield Label(
                "Boards differ: the boot hints are the usual keys, not a rule. "
                "Tap the key repeatedly while the machine starts.",
                classes="note",
            )

    AUTO_FOCUS = "#keys"

    @on(OptionList.OptionSelected, "#keys")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id or ""
        self.dismiss(option_id.removeprefix("boot:"))

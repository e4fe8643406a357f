"""SysRq: the kernel's keys with their meaning, or a sequence such as REISUB."""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option

from console_tui.core import keys
from console_tui.ui.dialogs._base import Dialog

DEFAULT_KEY = "h"


def sysrq_label(key: str) -> str:
    """How a SysRq key is named in the dialog and the palette, e.g. `SysRq h: help: list the keys`."""
    return f"SysRq {key}: {keys.SYSRQ_KEYS[key]}"


class SysRqDialog(Dialog[str]):
    """Pick a SysRq key (Enter, or press the key itself) or type a sequence; dismisses the keys.
    The caller asks before the keys that take the machine down."""

    def __init__(self, target: str, *, reason: str = "", way: str = "") -> None:
        super().__init__()
        self.target = target
        self.reason = reason
        self.way = way
        """How the keys travel when not by a serial BREAK (said before they are sent)."""

    def on_mount(self) -> None:
        """The harmless `h` (help) is highlighted first: F2 then Enter must never reboot."""
        self.query_one("#cancel" if self.reason else "#keys").focus()

    def compose(self) -> ComposeResult:
        disabled = bool(self.reason)
        with Vertical(id="dialog"):
            yield Label(f"SysRq on {self.target}", classes="title")
            # The harmless `h` (help) comes first and is highlighted before the first paint, so
            # the list is drawn once, from its top, already on it (no scroll to find it).
            first = {DEFAULT_KEY: keys.SYSRQ_KEYS[DEFAULT_KEY]}
            choices = OptionList(
                *(
                    Option(f"{key}  {what}", id=key)
                    for key, what in (first | keys.SYSRQ_KEYS).items()
                ),
                id="keys",
                disabled=disabled,
            )
            choices.highlighted = 0
            yield choices
            yield Input(
                placeholder="or a sequence, e.g. reisub (BREAK before each key, a pause between)",
                id="sequence",
                restrict=f"[{''.join(keys.SYSRQ_KEYS)}{''.join(keys.SYSRQ_KEYS).upper()}]*",
                disabled=disabled,
            )
            yield Label(keys.SYSRQ_NOTE, classes="note")
            if self.way:
                yield Label(self.way, classes="note", id="way")
            if self.reason:
                yield Label(f"Unavailable: {self.reason}", classes="reason", id="reason")
            with Horizontal(classes="buttons"):
                yield Button("Send", variant="primary", id="send", disabled=disabled)
                yield Button("Cancel", id="cancel")

    def on_key(self, event: events.Key) -> None:
        """Pressing a SysRq key while the list has focus sends it."""
        key = event.character
        if self.focused is self.query_one("#keys") and key and key.lower() in keys.SYSRQ_KEYS:
            event.stop()
            self.dismiss(key.lower())

    @on(OptionList.OptionSelected, "#keys")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    @on(Input.Submitted, "#sequence")
    def _sequence(self, event: Input.Submitted) -> None:
        if event.value:
            self.dismiss(event.value.lower())

    @on(Button.Pressed, "#send")
    def _send(self) -> None:
        sequence = self.query_one("#sequence", Input).value
        if sequence:
            self.dismiss(sequence.lower())
            return
        option = self.query_one("#keys", OptionList).highlighted_option
        if option is not None:
            self.dismiss(option.id)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

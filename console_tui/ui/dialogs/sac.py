"""Windows SAC (Special Administration Console) channel actions."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from console_tui.core import keys
from console_tui.ui.dialogs._base import Dialog

SAC_LABELS = {
    "channels": "SAC: list channels (ch)",
    "cmd": "SAC: new CMD channel (cmd)",
    "next": "SAC: next channel (Esc Tab)",
    "sac": "SAC: back to SAC (Esc Tab 0)",
}


def sac_actions() -> list[tuple[str, str, bytes]]:
    """(name, label, bytes) of each SAC action."""
    return [
        (a.name, SAC_LABELS.get(a.name, f"SAC: {a.description}"), a.data) for a in keys.SAC_ACTIONS
    ]


class SacDialog(Dialog[bytes]):
    """Pick a SAC action or a channel number to switch to; dismisses the bytes to send."""

    def __init__(self, target: str, *, prompt_up: bool, reason: str = "") -> None:
        super().__init__()
        self.target = target
        self.prompt_up = prompt_up
        self.reason = reason

    def compose(self) -> ComposeResult:
        prompt = "the SAC> prompt is up" if self.prompt_up else "no SAC> prompt seen yet"
        with Vertical(id="dialog"):
            yield Label(f"SAC on {self.target} ({prompt})", classes="title")
            yield OptionList(
                *(Option(label, id=name) for name, label, _data in sac_actions()),
                id="actions",
                disabled=bool(self.reason),
            )
            yield Input(
                placeholder="switch to channel N (ch -si N): type N, Enter",
                restrict=r"[0-9]*",
                id="channel",
                disabled=bool(self.reason),
            )
            yield Label(keys.SAC_NOTE, classes="note")
            if self.reason:
                yield Label(f"Unavailable: {self.reason}", classes="reason", id="reason")

    AUTO_FOCUS = "#actions"

    @on(OptionList.OptionSelected, "#actions")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        data = {name: data for name, _label, data in sac_actions()}
        self.dismiss(data[event.option.id or ""])

    @on(Input.Submitted, "#channel")
    def _switch(self, event: Input.Submitted) -> None:
        if event.value.isdigit():
            self.dismiss(keys.sac_switch(int(event.value)))

"""Messages between the app's widgets: workers post them, handlers own the state."""

from __future__ import annotations

from textual.message import Message


class OpenTarget(Message):
    """The operator chose a target in the inventory: open (or focus) its console tab."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class TargetChanged(Message):
    """A target's live state, writer or viewers changed: the inventory and status lines update."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class Announce(Message):
    """One short line for the announcement bar (what a screen reader reads): state changes, actions."""

    def __init__(self, text: str, *, bell: bool = False) -> None:
        super().__init__()
        self.text = text
        self.bell = bell

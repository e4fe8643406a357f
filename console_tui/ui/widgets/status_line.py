"""The status line under each console: backing, line settings, write lock, viewers, transcript."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from rich.text import Text
from textual.widgets import Static


@dataclass(frozen=True)
class SessionFacts:
    """What the status line shows about one session, in words (never colour alone)."""

    target: str
    backing: str = ""
    line: str = ""
    state: str = "connecting"
    writer: str = ""
    you: str = ""
    viewers: str = ""
    transcript: str = ""
    sac_prompt: bool = False

    def update(self, **changes: Any) -> SessionFacts:
        return replace(self, **changes)

    @property
    def lock_words(self) -> str:
        if not self.writer:
            return "write lock: free"
        if self.writer == self.you:
            return "write lock: you"
        return f"write lock: {self.writer} (view only)"

    def text(self) -> Text:
        parts = [
            (f"{self.target}", "bold"),
            (f"state: {self.state}", _STATE_STYLES.get(self.state, "")),
            (f"backing: {self.backing}{' ' + self.line if self.line else ''}", ""),
            (self.lock_words, ""),
            (f"viewers: {self.viewers or 'none'}", ""),
        ]
        if self.sac_prompt:
            parts.append(("SAC> prompt: arrow keys off", "bold"))
        parts.append((f"transcript: {_short_path(self.transcript) or '-'}", "dim"))
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, (words, style) in enumerate(parts):
            if index:
                text.append(" · ", "dim")
            text.append(words, style)
        return text


def _short_path(path: str) -> str:
    """A path under the home folder as `~/...`, so it fits the line more often."""
    home = os.path.expanduser("~")
    if path and home not in ("", "/") and path.startswith(home + os.sep):
        return "~" + path[len(home) :]
    return path


_STATE_STYLES = {
    "connected": "bold",
    "unreachable": "bold reverse",
    "reconnecting": "italic",
}


class StatusLine(Static):
    """One line of facts about a session; it redraws only when a fact changes."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    def __init__(self, facts: SessionFacts, *, id: str | None = None) -> None:
        super().__init__(facts.text(), id=id, markup=False)
        self.facts = facts

    def show(self, facts: SessionFacts) -> None:
        if facts != self.facts:
            self.facts = facts
            self.update(facts.text())

"""The status line under each console: state (and why the line is down), backing, line settings,
write lock, viewers, transcript. It wraps between facts, never inside one, so nothing is cut."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

SEPARATOR = " · "
MOST_LINES = 2
LINE_UP = "connected"


@dataclass(frozen=True)
class SessionFacts:
    """What the status line shows about one session, in words (never colour alone)."""

    target: str
    backing: str = ""
    line: str = ""
    state: str = "connecting"
    detail: str = ""
    """why the line is down, and what to do about it"""
    writer: str = ""
    you: str = ""
    viewers: str = ""
    transcript: str = ""
    sac_prompt: bool = False

    def update(self, **changes: Any) -> SessionFacts:
        return replace(self, **changes)

    @property
    def line_down(self) -> bool:
        """The line is down for a reason worth showing where the console would be."""
        return self.state != LINE_UP and bool(self.detail)

    @property
    def lock_words(self) -> str:
        if not self.writer:
            if self.state != LINE_UP:
                return "write lock: none while the line is down"
            return "write lock: free"
        if self.writer == self.you:
            return "write lock: you"
        return f"write lock: {self.writer} (view only)"

    def parts(self) -> list[tuple[str, str]]:
        """Each fact in words with its style, in the order they are shown."""
        state = f"state: {self.state}" + (f" ({self.detail})" if self.detail else "")
        parts = [
            (f"{self.target}", "bold"),
            (state, _STATE_STYLES.get(self.state, "")),
            (f"backing: {self.backing}{' ' + self.line if self.line else ''}", ""),
            (self.lock_words, ""),
            (f"viewers: {self.viewers or 'none'}", ""),
        ]
        if self.sac_prompt:
            parts.append(("SAC> prompt: arrow keys off", "bold"))
        parts.append((f"transcript: {_short_path(self.transcript) or '-'}", "dim"))
        return parts

    def lines(self, width: int | None = None) -> list[Text]:
        """The facts as lines no wider than `width` (one line when None), broken between facts;
        past two lines the transcript is named by its file alone (the palette opens it), and a
        fact wider than a whole line is cut with an ellipsis."""
        lines = self._lines(self.parts(), width)
        cut = width is not None and any(line.cell_len > width for line in lines)
        if (len(lines) > MOST_LINES or cut) and self.transcript:
            short = self.update(transcript=os.path.basename(self.transcript))
            lines = self._lines(short.parts(), width)
        if width is not None:
            for line in lines:
                line.truncate(max(width, 1), overflow="ellipsis")
        return lines

    @staticmethod
    def _lines(parts: list[tuple[str, str]], width: int | None) -> list[Text]:
        lines: list[Text] = []
        line = Text(no_wrap=True, overflow="ellipsis")
        for words, style in parts:
            wanted = len(SEPARATOR) + len(words) if line.plain else len(words)
            too_wide = width is not None and len(words) > width  # cut where it starts instead
            if width is not None and line.plain and line.cell_len + wanted > width and not too_wide:
                lines.append(line)
                line = Text(no_wrap=True, overflow="ellipsis")
            if line.plain:
                line.append(SEPARATOR, "dim")
            line.append(words, style)
        lines.append(line)
        return lines

    def text(self, width: int | None = None) -> Text:
        return Text("\n").join(self.lines(width))


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


class StatusLine(Widget):
    """Facts about a session on as many lines as they need; it redraws only when a fact changes."""

    DEFAULT_CSS = """
    StatusLine {
        height: auto;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    def __init__(self, facts: SessionFacts, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.facts = facts

    def show(self, facts: SessionFacts) -> None:
        if facts != self.facts:
            self.facts = facts
            self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.facts.lines(width))

    def render(self) -> Text:
        return self.facts.text(self.content_size.width or None)

"""The reading view: console output as plain lines that are only ever appended, for screen readers."""

from __future__ import annotations

import codecs
import re

from textual.widgets import Log

_ESCAPES = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC
    r"|\x1b[P^_X][^\x1b]*(?:\x1b\\)?"  # DCS, PM, APC, SOS
    r"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b[ -/]*[0-~]"  # two-character escapes
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"  # other controls (tab, newline and CR are handled)
)


class ReadingView(Log):
    """Complete lines of output, escapes removed; a line is written once and never repainted."""

    DEFAULT_CSS = """
    ReadingView {
        height: 1fr;
        border: tall $panel;
        &:focus { border: tall $primary; }
    }
    """

    def __init__(self, *, max_lines: int = 10000, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, auto_scroll=True, id=id)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial = ""

    def seed(self, lines: list[str], partial: str) -> None:
        """Start from the console's text so far: complete lines, and the line being typed."""
        self.clear()
        cleaned = [plain_line(line) for line in lines]
        if cleaned:
            self.write_lines(cleaned)
        self._partial = partial

    def feed(self, data: bytes) -> None:
        text = self._partial + self._decoder.decode(data)
        *lines, self._partial = text.split("\n")
        if len(self._partial) > 4096:
            lines.append(self._partial)
            self._partial = ""
        cleaned = [plain_line(line) for line in lines]
        if cleaned:
            self.write_lines(cleaned)


def plain_line(line: str) -> str:
    """A line as a reader hears it: escapes and controls removed, CR overwrites, tabs kept."""
    line = _ESCAPES.sub("", line.rstrip("\r"))
    if "\r" in line:
        line = line.rsplit("\r", 1)[-1]
    return line.rstrip()

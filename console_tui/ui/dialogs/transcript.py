"""The transcript of a target: what its console sent, read from the file on disk."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Log

from console_tui.core.transcript import read_transcript
from console_tui.ui.dialogs._base import Dialog
from console_tui.ui.widgets.reading_view import plain_line

TAIL_LINES = 5000


class TranscriptDialog(Dialog[None]):
    """The last lines of a transcript, escapes removed; Escape closes it."""

    DEFAULT_CSS = """
    TranscriptDialog #dialog { width: 95%; height: 90%; }
    TranscriptDialog Log { height: 1fr; }
    """

    AUTO_FOCUS = "#lines"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Transcript: {self.path} (Esc closes)", classes="title")
            yield Log(id="lines", max_lines=TAIL_LINES)

    def on_mount(self) -> None:
        log = self.query_one(Log)
        try:
            data = b"".join(read_transcript(self.path))
        except OSError as exc:
            log.write_line(f"cannot read the transcript: {exc}")
            return
        lines = data.decode("utf-8", "replace").split("\n")[-TAIL_LINES:]
        log.write_lines(plain_line(line) for line in lines)

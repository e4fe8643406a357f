"""Ask before a long paste: it is paced to the line and can take a while."""

from __future__ import annotations

from console_tui.ui.dialogs.confirm import ConfirmDialog


class PasteDialog(ConfirmDialog):
    """Confirm a paste longer than `paste_limit`; says how long the line needs for it."""

    def __init__(self, characters: int, *, limit: int, baud: int) -> None:
        seconds = characters * 10 / baud if baud > 0 else 0.0
        super().__init__(
            f"Paste {characters:,} characters?",
            yes="Paste",
            detail=(
                f"That is more than the paste limit ({limit:,}). It is sent paced to the line "
                f"({baud:,} baud), which takes about {_duration(seconds)}."
            ),
        )


def _duration(seconds: float) -> str:
    """A wait in words: `under a second`, `3 s`, `4 min`."""
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"

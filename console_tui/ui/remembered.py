"""What the app remembers between runs, per operator: the theme picked in the palette.

It lives in a small state file (0600) beside the transcripts, never in the operator's config,
which stays theirs to write. A file that cannot be read is treated as empty: a preference is not
worth refusing to start over.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from console_tui.core import paths

FILE_NAME = "app-state.json"


def state_file() -> Path:
    return paths.state_dir() / FILE_NAME


def _read() -> dict[str, Any]:
    try:
        data = json.loads(state_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered_theme(who: str) -> str | None:
    """The theme `who` picked last time, if any."""
    themes = _read().get("themes")
    theme = themes.get(who) if isinstance(themes, dict) else None
    return theme if isinstance(theme, str) else None


def remember_theme(who: str, theme: str) -> None:
    """Keep `who`'s theme for next time; a file that cannot be written is left as it was."""
    data = _read()
    found = data.get("themes")
    themes: dict[str, Any] = found if isinstance(found, dict) else {}
    if themes.get(who) == theme:
        return
    data["themes"] = {**themes, who: theme}
    with contextlib.suppress(OSError), paths.open_private(state_file(), "w") as out:
        json.dump(data, out, indent=1)

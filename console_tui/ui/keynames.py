"""Keys in words, one way everywhere (footer, help, announcements): `Ctrl+Q`, `F1`, `Shift+PgUp`.

Textual shows `^q` in one place and `Ctrl+]` in another; an operator reading help should see one
spelling.
"""

from __future__ import annotations

from textual.keys import format_key

_WORDS = {
    "esc": "Esc",
    "pgup": "PgUp",
    "pgdn": "PgDn",
    "pagedown": "PgDn",
    "enter": "Enter",
    "tab": "Tab",
    "space": "Space",
    "delete": "Del",
    "insert": "Ins",
    "home": "Home",
    "end": "End",
    "up": "Up",
    "down": "Down",
    "left": "Left",
    "right": "Right",
    "backspace": "Backspace",
}


def key_name(key: str) -> str:
    """One key as an operator reads it: `ctrl+q` is `Ctrl+Q`, `shift+pageup` is `Shift+PgUp`,
    `slash` is `/`; a plain letter stays as typed (`y`)."""
    *modifiers, base = key.strip().split("+")
    shown = format_key(base)
    if shown.lower() in _WORDS:
        shown = _WORDS[shown.lower()]
    elif _is_function_key(shown) or (modifiers and len(shown) == 1):
        shown = shown.upper()
    return "+".join([*(m.capitalize() for m in modifiers), shown])


def _is_function_key(key: str) -> bool:
    return len(key) > 1 and key[0] == "f" and key[1:].isdigit()

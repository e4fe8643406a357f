"""Themes: TOML (or JSON) files in `themes/` become Textual themes; a bad file falls back with a notice.

The bundled themes are the repo's top-level `themes/`. A wheel carries them inside the package as
`console_tui/themes`; a source checkout or an editable install reads them where they are, beside
the package.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

from console_tui.core import paths

DEFAULT_THEME = "console-dark"
_COLOR_FIELDS: tuple[str, ...] = ("primary", "secondary", "warning", "error", "success", "accent")
_COLOR_FIELDS += ("foreground", "background", "surface", "panel", "boost")


def _bundled_themes() -> Path:
    """`themes/` inside the package when installed from a wheel, else the checkout's, beside it."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "themes"
    return installed if installed.is_dir() else package.parent / "themes"


BUNDLED_THEMES = _bundled_themes()


@dataclass(frozen=True)
class ThemeProblem:
    """A theme file that could not be used, and why (shown to the operator as a notice)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}; using {DEFAULT_THEME}"


def theme_folders() -> list[Path]:
    """The bundled themes, then the user's own (`<config dir>/themes`), which may override them."""
    return [BUNDLED_THEMES, paths.config_dir() / "themes"]


def load_themes(folders: list[Path] | None = None) -> tuple[list[Theme], list[ThemeProblem]]:
    """Every valid theme file in `folders`, and the problems with the invalid ones."""
    themes: dict[str, Theme] = {}
    problems: list[ThemeProblem] = []
    for folder in folders if folders is not None else theme_folders():
        if not folder.is_dir():
            continue
        for path in sorted([*folder.glob("*.toml"), *folder.glob("*.json")]):
            try:
                theme = load_theme(path)
            except ValueError as exc:
                problems.append(ThemeProblem(path, str(exc)))
            else:
                themes[theme.name] = theme
    return list(themes.values()), problems


def load_theme(path: Path) -> Theme:
    """One theme file; ValueError says what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read theme: {exc}") from None
    return theme_from_dict(data, default_name=path.stem)


def theme_from_dict(data: object, *, default_name: str) -> Theme:
    if not isinstance(data, dict):
        raise ValueError("a theme is a table of colours")
    allowed = {f.name for f in fields(Theme)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; known: {', '.join(sorted(allowed))}")
    values = {"name": default_name, **data}
    if "primary" not in values:
        raise ValueError('no primary colour: add primary = "#RRGGBB"')
    for key in _COLOR_FIELDS:
        if key in values:
            _check_color(key, values[key])
    variables = values.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ValueError("[variables] must map names to colour strings")
    try:
        return Theme(**values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a theme: {exc}") from None


def _check_color(key: str, value: object) -> None:
    if not isinstance(value, str):
        raise ValueError(f'{key} must be a colour string such as "#1E1E2E"')
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"{key} = {value!r} is not a colour") from None


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    lighter, darker = sorted(
        (_luminance(Color.parse(first)), _luminance(Color.parse(second))), reverse=True
    )
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(color: Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)

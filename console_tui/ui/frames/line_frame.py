"""A view's lines framed (border, padding) without Textual's styling pass per line.

Textual draws every widget line through `StylesCache.render_line`: it looks up the border, the
padding, the outline, tint, opacity and hatch, builds the border cells, joins them to the content
and wraps the result, once a line. A console view that floods changes all 50 of its lines every
frame, and that pass was 45 % of a frame (its content, the console's own cells, a third of it).
Between a view's content rows the frame is the same on every line, so `FramedLines` asks
Textual once a frame for one framed blank line, cuts the frame's left and right cells from it,
and lays each content line between them. Everything else stays Textual's: which lines are
dirty, the lines kept from the last frame, line filters, crops, links; the border rows above
and below, and any view whose styles change the content itself (tint, opacity, text opacity,
hatch, outline), go through Textual's pass as before.

It reaches into Textual's widget drawing (`Widget._styles_cache`, `StylesCache.render` and
`render_line`), checked against the Textual this project requires (>= 8): `install` leaves a
widget whose cache is not the one described here alone. `tests/test_ui_line_frame.py` holds the
lines drawn here against Textual's own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.terminal_theme import TerminalTheme
from textual._styles_cache import StylesCache
from textual.color import Color
from textual.content import Content
from textual.css.styles import StylesBase
from textual.geometry import Size, Spacing
from textual.strip import Strip
from textual.style import Style as TextualStyle
from textual.widget import Widget

__all__ = ["FramedLines", "install"]

_RENDER_LINE = [
    "self", "styles", "y", "size", "content_size", "padding", "base_background", "background",
    "render_content_line", "border_title", "border_subtitle", "opacity", "ansi_theme",
    "native_ansi",
]  # fmt: skip
"""`StylesCache.render_line`'s parameters, as this module calls it."""


class _Frame:
    """The cells around a content line: left, right, and the content's blank."""

    __slots__ = ("blank", "bottom", "left", "right", "top", "whole", "width")

    def __init__(self, template: Strip, left: int, width: int, top: int, height: int) -> None:
        self.whole = template.cell_length
        self.left = list(template.crop(0, left))
        self.right = list(template.crop(left + width, self.whole))
        inside = template.crop(left, left + width)
        self.blank: Style | None = next((style for _, style, _ in inside), None)
        self.width, self.top, self.bottom = width, top, top + height


class FramedLines(StylesCache):
    """A widget's styles cache that frames its content lines itself (see the module's text)."""

    def __init__(self) -> None:
        super().__init__()
        self._frame: _Frame | None = None
        self._framing = False
        """Within `render`: its lines share one frame, worked out at the first content line."""

    def render(self, *args: Any, **kwargs: Any) -> list[Strip]:
        self._frame, self._framing = None, True
        try:
            return super().render(*args, **kwargs)
        finally:
            self._frame, self._framing = None, False

    def render_line(
        self,
        styles: StylesBase,
        y: int,
        size: Size,
        content_size: Size,
        padding: Spacing,
        base_background: Color,
        background: Color,
        render_content_line: Callable[[int], Strip],
        border_title: tuple[Content, Color, Color, TextualStyle] | None,
        border_subtitle: tuple[Content, Color, Color, TextualStyle] | None,
        opacity: float,
        ansi_theme: TerminalTheme,
        native_ansi: bool,
    ) -> Strip:
        everything = (
            styles, y, size, content_size, padding, base_background, background,
            render_content_line, border_title, border_subtitle, opacity, ansi_theme, native_ansi,
        )  # fmt: skip
        frame = self._frame
        if frame is None:
            if not self._framing or not _plain(styles, opacity):
                return super().render_line(*everything)
            gutter = styles.gutter
            width, height = content_size
            if width <= 0 or height <= 0 or gutter.left + width > size.width:
                return super().render_line(*everything)
            empty = Strip([])  # Textual pads it to the content's width with the content's blank
            template = super().render_line(
                styles, gutter.top, size, content_size, padding, base_background, background,
                lambda _y: empty, None, None, opacity, ansi_theme, native_ansi,
            )  # fmt: skip
            if template.cell_length != size.width:
                self._framing = False
                return super().render_line(*everything)
            frame = self._frame = _Frame(template, gutter.left, width, gutter.top, height)
        if not frame.top <= y < frame.bottom:
            return super().render_line(*everything)
        content = render_content_line(y - frame.top)
        short = frame.width - content.cell_length
        if short < 0:
            content = content.crop(0, frame.width)
        elif short:  # padded in the same new strip, not in one of its own
            pad = Segment(" " * short, frame.blank)
            return Strip([*frame.left, *content, pad, *frame.right], frame.whole)
        return Strip([*frame.left, *content, *frame.right], frame.whole)


def _plain(styles: StylesBase, opacity: float) -> bool:
    """Whether Textual's pass per line would only put the frame around the content."""
    if styles.tint.a or opacity != 1.0 or styles.text_opacity != 1.0:
        return False
    if styles.has_rule("hatch") and styles.hatch != "none":
        return False
    return not any(edge for edge, _ in styles.outline)


def _described() -> bool:
    """Whether Textual's styles cache is the one this module was written against."""
    try:
        names = list(inspect.signature(StylesCache.render_line).parameters)
    except (TypeError, ValueError):
        return False
    return names == _RENDER_LINE


DESCRIBED = _described()


def install(widget: Widget) -> bool:
    """Frame `widget`'s content lines here from now on; whether it does."""
    if not DESCRIBED or type(getattr(widget, "_styles_cache", None)) is not StylesCache:
        return isinstance(getattr(widget, "_styles_cache", None), FramedLines)
    widget._styles_cache = FramedLines()
    return True

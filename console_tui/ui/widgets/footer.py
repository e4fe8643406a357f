"""The footer: the keys in force where the focus is, as many as fit, and a word for the rest.

Textual's footer drops what does not fit without a word (F9, F10 and F12 vanished at 80 columns,
`^w` lost its label at 140). This one shows the keys that fit whole, says how many it left out and
where they are listed (F1), and inside a console says that every other key goes to the console.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey, FooterLabel

COMPACT_BELOW = 120
"""Columns below which the keys sit closer together."""
HELP_ACTION = "help"


def key_width(key: str, description: str, *, compact: bool) -> int:
    """Cells a footer key takes: its padding and margin as the footer's CSS lays them out."""
    if compact:
        return len(key) + 1 + len(description) + 1
    return len(key) + 2 + len(description) + 1


def fitting(
    keys: list[tuple[str, str]], room: int, *, compact: bool, more: int, first: list[int]
) -> tuple[list[int], int]:
    """Which keys (by index, in order) fit in `room` cells, those in `first` chosen first,
    keeping `more` cells for the word on the rest when not all fit; and how many were left out."""
    widths = [key_width(key, words, compact=compact) for key, words in keys]
    if sum(widths) <= room:
        return list(range(len(keys))), 0
    shown: list[int] = []
    used = 0
    for index in [*first, *(i for i in range(len(keys)) if i not in first)]:
        if used + widths[index] <= room - more:
            shown.append(index)
            used += widths[index]
    return sorted(shown), len(keys) - len(shown)


class KeysFooter(Footer):
    """The keys in force, never cut: those that do not fit are counted and found under F1."""

    DEFAULT_CSS = """
    KeysFooter FooterLabel, KeysFooter.-compact FooterLabel { margin: 0 1; }
    """

    inside_words = ""
    """Said after the keys, e.g. that every other key goes to the console (set by the screen)."""
    more_words = "+{count} more: F1"
    """Said for the keys left out, and where they are listed (set by the screen)."""

    _laid_out_for = 0
    _composed_for: tuple[object, ...] | None = None

    def _what_it_shows(self) -> tuple[object, ...]:
        """All a composition depends on: the keys in force and the room for them."""
        active = self.screen.active_bindings
        keys = tuple(
            (binding.key, binding.action, binding.description, binding.show, enabled, tooltip)
            for _namespace, binding, enabled, tooltip in active.values()
        )
        width = self.size.width or self.app.size.width
        shown = (self.compact, self.show_command_palette, self.inside_words, self.more_words)
        return (keys, width, *shown)

    async def recompose(self) -> None:
        """Compose again only when what it shows changes: the keys are asked for again on every
        focus change, and building them again (each with its styles) cost an opened console
        about a tenth of a second."""
        if not self._bindings_ready or not self.is_attached:
            await super().recompose()
            return
        shows = self._what_it_shows()
        if shows == self._composed_for:
            return
        self._composed_for = shows
        await super().recompose()

    def on_resize(self) -> None:
        """Lay the keys out again for a new width (a recompose is queued once, not per event)."""
        if self.size.width == self._laid_out_for:
            return
        self._laid_out_for = self.size.width
        self.compact = self.size.width < COMPACT_BELOW
        self.call_after_refresh(self.recompose)

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        compact = self.compact
        active = self.screen.active_bindings
        by_action: dict[str, tuple[Binding, bool, str]] = {}
        for _namespace, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in by_action:
                by_action[binding.action] = (binding, enabled, tooltip)
        entries = list(by_action.values())
        # Help first (it lists the rest), then what can be done now, then what is disabled.
        first = sorted(
            range(len(entries)),
            key=lambda i: (entries[i][0].action != HELP_ACTION, not entries[i][1]),
        )
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        room = (self.size.width or self.app.size.width) - 2
        if palette is not None and self.show_command_palette:
            room -= key_width(self.app.get_key_display(palette.binding), "palette", compact=False)
        if self.inside_words:
            room -= len(self.inside_words) + 2
        room -= 2  # the labels' margins
        shown_keys = [
            (self.app.get_key_display(binding), binding.description) for binding, _, _ in entries
        ]
        more_words = self.more_words.format(count=len(entries))
        shown, left_out = fitting(
            shown_keys, room, compact=compact, more=len(more_words) + 1, first=first
        )
        for index in shown:
            binding, enabled, tooltip = entries[index]
            yield FooterKey(
                binding.key,
                shown_keys[index][0],
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            ).data_bind(compact=Footer.compact)
        if left_out:
            yield FooterLabel(self.more_words.format(count=left_out), classes="more-keys")
        if self.inside_words:
            yield FooterLabel(self.inside_words, classes="inside-words")
        if palette is not None and self.show_command_palette:
            yield FooterKey(
                palette.binding.key,
                self.app.get_key_display(palette.binding),
                "palette",
                palette.binding.action,
                classes="-command-palette",
                disabled=not palette.enabled,
                tooltip=palette.binding.tooltip or palette.binding.description,
            )

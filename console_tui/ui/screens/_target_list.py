"""How the main screen makes room for a console on a small terminal: the target list steps aside.

Below `TARGETS_COLLAPSE_BELOW` columns, once a console is open, the list hides by itself; F6 shows
or hides it whatever the width, and going to it (Ctrl+L, or "Leave console" in the palette) shows
it. With no console open the list is all there is, so it always shows.
"""

from __future__ import annotations

from textual.screen import Screen

from console_tui.ui.widgets.inventory import Inventory

TARGETS_COLLAPSE_BELOW = 100
"""Columns below which the target list hides by itself once a console is open (F6 brings it)."""


class TargetListLayout(Screen[None]):
    """The target list's place on a screen of consoles (the main screen)."""

    _pane_ids: dict[str, str]
    targets_wanted: bool | None = None
    """Whether the operator showed (True) or hid (False) the target list; None: by width."""

    def announce(self, text: str, *, bell: bool = False) -> None:
        raise NotImplementedError

    def action_enter_console(self) -> None:
        raise NotImplementedError

    def on_resize(self) -> None:
        self.lay_out_targets()

    @property
    def targets_shown(self) -> bool:
        """The target list shows when no console is open (there is nothing else), else when
        asked to, else when there is room."""
        if not self._pane_ids:
            return True
        if self.targets_wanted is not None:
            return self.targets_wanted
        return self.size.width >= TARGETS_COLLAPSE_BELOW

    def lay_out_targets(self) -> None:
        inventory = self.query_one(Inventory)
        shown = self.targets_shown
        inventory.set_class(self.size.width < TARGETS_COLLAPSE_BELOW, "-narrow")
        if bool(inventory.display) == shown:
            return
        had_focus = inventory.has_focus_within
        inventory.display = shown
        if had_focus and not shown:
            self.action_enter_console()

    def action_toggle_targets(self) -> None:
        """Show or hide the target list (F6)."""
        self.targets_wanted = not self.targets_shown
        self.lay_out_targets()
        if self.targets_wanted:
            self.query_one(Inventory).target_tree.focus()
            self.announce("target list shown: F6 hides it")
        else:
            self.announce("target list hidden: F6 shows it")

    def action_inventory(self) -> None:
        """Go to the target list, showing it if it was hidden."""
        if not self.targets_shown:
            self.targets_wanted = True
            self.lay_out_targets()
        self.query_one(Inventory).target_tree.focus()

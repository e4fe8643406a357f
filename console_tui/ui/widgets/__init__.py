"""Widgets of the app: the terminal view, the inventory, the status line and the reading view."""

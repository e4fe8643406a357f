"""What a target's control offers beyond NMI and reset (power actions, one-shot boot overrides),
read from its control class without connecting, so menus show the rest disabled with a reason; and
the take-over of a one-session console line (IPMI SOL).
"""

from __future__ import annotations

import importlib
from typing import Any

from console_tui.core.backings import backing_class, parse_console_uri
from console_tui.core.config import Target
from console_tui.core.control import POWER_ACTIONS, REGISTRY, parse_control_uri
from console_tui.core.errors import NotPermittedError


def control_offers(target: Target) -> dict[str, Any]:
    """`power_actions` and `boot_overrides` of the target's control (empty without one)."""
    if not target.control:
        return {"power_actions": (), "boot_overrides": ()}
    scheme = parse_control_uri(target.control).scheme
    module_name, _, class_name = REGISTRY[scheme].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    actions: frozenset[str] = getattr(cls, "power_actions", frozenset())
    return {
        "power_actions": tuple(a for a in POWER_ACTIONS if a in actions),
        "boot_overrides": tuple(getattr(cls, "boot_overrides", ())),
    }


def take_over_line(console: str) -> None:
    """Ask the console's backing to end another client's session at its next connect."""
    uri = parse_console_uri(console)
    module = importlib.import_module(backing_class(uri.scheme).__module__)
    take_over = getattr(module, "take_over", None)
    if take_over is None:
        raise NotPermittedError(
            f"a {uri.scheme}:// console has no other session to take over",
            where=uri.where,
            fix="take the write lock instead (~w in attach, or the app's lock menu)",
        )
    take_over(console)

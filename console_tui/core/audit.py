"""The audit log: JSON lines (0600) of who did what to which console, from where, and when.

Never holds keystrokes or secrets: only the kind of action and its short parameters.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from console_tui.core import paths

EVENTS = frozenset(
    {
        "login",
        "auth-failed",
        "alert",
        "lifecycle",
        "connect",
        "disconnect",
        "attach",
        "detach",
        "lock",
        "break",
        "sysrq",
        "nmi",
        "reset",
        "key",
        "paste",
        "denied",
    }
)


def audit_path() -> Path:
    return paths.state_dir() / "audit.jsonl"


class AuditLog:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or audit_path()

    def record(
        self, event: str, *, who: str, target: str = "", source: str = "local", **fields: Any
    ) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}")
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "event": event,
            "who": who,
            "target": target,
            "source": source,
            **fields,
        }
        with paths.open_private(self.path, "a") as handle:
            handle.write(json.dumps(entry, sort_keys=False) + "\n")

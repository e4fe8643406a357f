"""The audit log: JSON lines (0600) of who did what to which console, from where, and when.

Never holds keystrokes or secrets: only the kind of action and its short parameters. What a remote
party chooses (a login name, a key) is cut to a short length, a flood of the same refusal from one
source becomes one record a minute with a count, and the file rotates like transcripts, so nobody
can fill the disk by knocking.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console_tui.core import paths
from console_tui.core.transcript import Transcript

EVENTS = frozenset(
    {
        "login",
        "auth-failed",
        "alert",
        "lifecycle",
        "connect",
        "disconnect",
        "dial-in",
        "vmotion-refused",
        "attach",
        "detach",
        "lock",
        "break",
        "sysrq",
        "nmi",
        "reset",
        "key",
        "paste",
        "baud",
        "denied",
    }
)
FIELD_MAX = 100
"""Characters kept of a text field; the rest is counted, not written."""
FLOOD_WINDOW = 60.0
FLOOD_KEYS = 1024
"""Floods followed at once; past that the oldest is written out early."""


def audit_path() -> Path:
    return paths.state_dir() / "audit.jsonl"


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > FIELD_MAX:
        return f"{value[:FIELD_MAX]}... ({len(value) - FIELD_MAX} more characters)"
    return value


@dataclass
class _Flood:
    """Records of one kind from one source held back in the current minute."""

    started: float
    who: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    more: int = 0


class AuditLog:
    """Appends records to `audit.jsonl`, rotating to `.1` .. `.N` past `max_bytes`."""

    def __init__(
        self, path: Path | None = None, *, max_bytes: int = 8 * 1024 * 1024, files: int = 5
    ) -> None:
        self.path = path or audit_path()
        self.max_bytes = max_bytes
        self.files = files
        self._file: Transcript | None = None
        self._floods: dict[tuple[str, str, str], _Flood] = {}

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
        line = json.dumps({k: _short(v) for k, v in entry.items()}) + "\n"
        if self._file is None:
            # The rotating writer of transcripts: size-bounded files, 0600.
            self._file = Transcript(self.path, max_bytes=self.max_bytes, files=self.files)
        self._file.write(line.encode())
        self._file.flush()  # a record is on disk before the action it records goes on

    def record_flood(
        self, event: str, *, who: str, source: str, reason: str, **fields: Any
    ) -> None:
        """A record that may come in floods (refused logins): the first of a minute from a source
        is written at once, the rest become one record with their count when the minute ends."""
        now = time.monotonic()
        self.flush_floods(now)
        key = (event, source, reason)
        flood = self._floods.get(key)
        if flood is not None:
            flood.more += 1
            flood.who, flood.fields = who, fields
            return
        if len(self._floods) >= FLOOD_KEYS:
            self._write_flood(next(iter(self._floods)))
        self._floods[key] = _Flood(now)
        self.record(event, who=who, source=source, reason=reason, **fields)

    def flush_floods(self, now: float | None = None) -> None:
        """Write the counts of floods whose minute has ended (all of them, without `now`)."""
        for key, flood in list(self._floods.items()):
            if now is None or now - flood.started >= FLOOD_WINDOW:
                self._write_flood(key)

    def _write_flood(self, key: tuple[str, str, str]) -> None:
        flood = self._floods.pop(key)
        if flood.more:
            event, source, reason = key
            self.record(
                event,
                who=flood.who,
                source=source,
                reason=reason,
                repeated=flood.more,
                **flood.fields,
            )

    def close(self) -> None:
        self.flush_floods()
        if self._file is not None:
            self._file.close()
            self._file = None

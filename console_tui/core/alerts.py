"""Alerts: console output that means a machine is in trouble (a panic, an oops, a bugcheck).

One compiled regular expression per target scans each read as it arrives (C speed, so the byte
path does not slow down), with the tail of the previous read kept so a pattern split across two
reads still matches. The same alert again within `QUIET` seconds is counted, not raised anew: a
panic prints its banner more than once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

DEFAULT_ALERTS: tuple[tuple[str, str], ...] = (
    ("panic", r"Kernel panic - not syncing"),
    ("oops", r"Oops: "),
    ("oops", r"BUG: unable to handle"),
    ("oops", r"general protection fault"),
    ("oops", r"kernel BUG at"),
    ("soft lockup", r"soft lockup - CPU#"),
    ("hard lockup", r"Watchdog detected hard LOCKUP"),
    ("hung task", r"blocked for more than \d+ seconds"),
    ("out of memory", r"Out of memory: Kill"),
    ("bugcheck", r"\*\*\* STOP: 0x"),
    ("bugcheck", r"BugCheck"),
    ("bugcheck", r"bugcheck was: 0x"),
)
"""What a match is called, and its pattern: Linux panics, oopses, lockups, hung tasks and OOM
kills, and Windows bugchecks as EMS prints them. Each pattern is scanned on its own, and only
where the literal text it starts with is found (`bytes.find`, at C speed): most reads hold none,
and an alternation of every pattern would try each branch at every byte."""

QUIET = 60.0
TAIL = 256
"""Bytes of the previous read kept for a pattern split across reads (and the line it is on)."""
LINE_LIMIT = 200


@dataclass
class Alert:
    """One alert on a target: what it is, the console line that raised it, when, how often."""

    name: str
    line: str
    at: float
    count: int = 1


class AlertWatch:
    """Scans a console's output for alert patterns."""

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        named = [*DEFAULT_ALERTS, *((pattern, pattern) for pattern in extra)]
        self._patterns = [
            (name, re.compile(pattern.encode()), _literal_prefix(pattern).encode())
            for name, pattern in named
        ]
        self._tail = b""
        self.last: dict[str, Alert] = {}

    def feed(self, data: bytes, now: float | None = None) -> list[Alert]:
        """The alerts `data` raises (new ones only; a repeat within QUIET is counted)."""
        buffer = self._tail + data
        self._tail = buffer[-TAIL:]
        found: list[tuple[int, int, str]] = []
        for name, pattern, prefix in self._patterns:
            first = buffer.find(prefix)
            if first >= 0:
                found += [(m.start(), m.end(), name) for m in pattern.finditer(buffer, first)]
        if not found:
            return []
        seen = len(buffer) - len(data)
        raised: list[Alert] = []
        for start, end, name in sorted(found):
            if end <= seen:
                continue  # it matched in an earlier read already
            when = time.time() if now is None else now
            known = self.last.get(name)
            if known is not None and when - known.at < QUIET:
                known.count += 1
                continue
            alert = Alert(name, _line_around(buffer, start, end), when)
            self.last[name] = alert
            raised.append(alert)
        return raised

    def latest(self) -> Alert | None:
        return max(self.last.values(), key=lambda alert: alert.at, default=None)


def _literal_prefix(pattern: str) -> str:
    """The literal text every match of `pattern` starts with (empty when there is none to tell)."""
    if re.search(r"(?<!\\)\|", pattern):
        return ""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and not pattern[index + 1].isalnum():
            out.append(pattern[index + 1])
            index += 2
            continue
        if char in ".^$*+?{}[]|()\\":
            if char in "*?{" and out:
                out.pop()  # the quantifier makes the last character optional
            break
        out.append(char)
        index += 1
    return "".join(out)


def _line_around(buffer: bytes, start: int, end: int) -> str:
    """The printable text of the line holding buffer[start:end]."""
    first = buffer.rfind(b"\n", 0, start) + 1
    last = buffer.find(b"\n", end)
    raw = buffer[first : last if last >= 0 else len(buffer)]
    text = re.sub(r"\x1b\[[0-?]*[ -/]*[@-~]", "", raw.decode("utf-8", "replace"))
    return "".join(c for c in text if c.isprintable()).strip()[:LINE_LIMIT]


def describe(alert: Alert, now: float | None = None) -> str:
    """`panic 2 min ago` (what `list` and the inventory show)."""
    times = f" ({alert.count}x)" if alert.count > 1 else ""
    return f"{alert.name} {ago(alert.at, now)}{times}"


def ago(at: float, now: float | None = None) -> str:
    """How long ago wall-clock time `at` was, in words: `12 s ago`, `2 min ago`, `3 days ago`."""
    age = max(0.0, (time.time() if now is None else now) - at)
    if age < 60:
        return f"{age:.0f} s ago"
    if age < 3600:
        return f"{age / 60:.0f} min ago"
    if age < 86400:
        return f"{age / 3600:.0f} h ago"
    return f"{age / 86400:.0f} days ago"


async def run_alert_command(
    command: Sequence[str], target: str, alert: Alert, timeout: float
) -> None:
    """Run the configured alert command (an argv list, never a shell) with the target, the alert
    and its line in its environment; killed after `timeout` seconds."""
    env = {
        **os.environ,
        "CONSOLE_TUI_TARGET": target,
        "CONSOLE_TUI_ALERT": alert.name,
        "CONSOLE_TUI_LINE": alert.line,
    }
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        log.warning("alert command %s for %s could not start: %s", command[0], target, exc)
        return
    try:
        async with asyncio.timeout(timeout):
            await process.wait()
    except TimeoutError:
        log.warning("alert command %s for %s ran past %s s: killed", command[0], target, timeout)
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

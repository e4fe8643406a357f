"""The targets a Hub serves: the configured ones, then those discovery found that none of them
claims, each under a name of its own.

Naming rule: a found target takes the name it was found by (QEMU's `-name`, the port, the socket
file); when a configured target or another found one has it already, it takes the first free
`NAME-2`, `NAME-3`, ... A name once given stays while its line is found, so a look never renames a
target an operator has open; it is remembered in the state folder, so that `list` and a later
`send` in another process mean the same machine by `demo-2`. A configured target claims a found one
on the same line: the same socket path, device or host:port, whatever the framing.

Targets of a `[[remote]]` (another serve, core/remotes.py) come last, under their own names, or
`REMOTE.NAME` when that is taken; a remote that cannot be reached keeps the targets it last had.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from console_tui.core import discovery, paths, remotes
from console_tui.core.backings import parse_console_uri
from console_tui.core.config import Discovery, Remote, Role, Target, User, find_target
from console_tui.core.errors import ConsoleError

SOURCES = ("config", "qemu", "folder", "serial", "remote", "inbound")
"""every source, in the order the inventory and `list` show them"""
LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"}

LineKey = tuple[str, str]


def line_key(console: str) -> LineKey:
    """What identifies a console line whatever its URI says of framing: a path or host:port."""
    try:
        uri = parse_console_uri(console)
    except ValueError:
        return ("uri", console)
    if uri.scheme == "ssh":
        return ("remote", f"{uri.host}:{uri.port}{uri.path}")
    if not uri.host:
        return ("path", os.path.realpath(uri.path))
    host = "loopback" if uri.host.lower() in LOOPBACK else uri.host.lower()
    if uri.scheme == "listen":  # one listener serves many VMs: each is its own line
        picks = "&".join(f"{k}={v}" for k, v in sorted(uri.params.items()))
        return ("listen", f"{host}:{uri.port}?{picks}")
    return ("inet", f"{host}:{uri.port}")


def unique_name(base: str, taken: set[str]) -> str:
    """`base`, or `base-2`, `base-3`, ... whichever is free (cut to fit 64 characters)."""
    if base not in taken:
        return base
    number = 2
    while True:
        suffix = f"-{number}"
        name = base[: 64 - len(suffix)] + suffix
        if name not in taken:
            return name
        number += 1


class TargetBook:
    """The configured targets and the found ones, as one list with unique names."""

    def __init__(
        self,
        configured: tuple[Target, ...],
        where: str = "config",
        *,
        memory: Path | None = None,
        remote_entries: tuple[Remote, ...] = (),
    ) -> None:
        self.configured = configured
        self.links = [remotes.link(entry) for entry in remote_entries]
        self._from_remotes: dict[str, list[Target]] = {}
        self._placed: dict[tuple[str, str], Target] = {}
        self.memory = memory
        self.targets: tuple[Target, ...] = configured
        self._where = where
        self._claimed = {line_key(t.console) for t in configured}
        self._found: dict[LineKey, Target] = {}
        self._scanned: list[Target] = []
        self._arrived: dict[LineKey, Target] = {}
        """Targets for VMs that dialled into a concentrator unclaimed (core/listener.py)."""
        self._looked_at = -float("inf")
        self._looking = asyncio.Lock()

    def target(self, name: str) -> Target:
        try:
            return find_target(self.targets, name, self._where)
        except ConsoleError as exc:
            down = [f"remote {k.remote.name}: {k.trouble}" for k in self.links if k.trouble]
            if down:
                exc.what += f" (a remote could not be asked: {'; '.join(down)})"
            raise

    def visible(self, user: User | None) -> tuple[Target, ...]:
        """What `user` may see and open (everything in process, where `user` is None).

        Configured targets: those in the user's groups ("*" for all). Found ones were never
        vetted for anyone: admins see them, others only when their groups name `discovered`."""
        if user is None:
            return self.targets
        return tuple(t for t in self.targets if _may_see(user, t))

    async def look(
        self, settings: Discovery, *, max_age: float, keep: Callable[[str], bool]
    ) -> list[str]:
        """Look again (in a thread: /proc, sysfs, folders) unless the last look is under
        `max_age` seconds old; return the names of found targets that went away."""
        async with self._looking:
            if time.monotonic() - self._looked_at < max_age:
                return []
            enabled = discovery.enabled(settings)
            found = await asyncio.to_thread(discovery.scan, settings) if enabled else []
            await asyncio.gather(*(self._ask(link) for link in self.links))
            self._looked_at = time.monotonic()
            self._scanned = found
            return self.update([*found, *self._arrived.values()], keep)

    def arrive(self, target: Target) -> str:
        """A VM dialled in that no target claims: it stays a found target from now on; its name."""
        key = line_key(target.console)
        self._arrived.setdefault(key, target)
        self.update([*self._scanned, *self._arrived.values()], keep=lambda _: True)
        return self._found[key].name if key in self._found else ""

    async def _ask(self, link: remotes.Link) -> None:
        """The remote's targets now; when it cannot answer, the ones it had (and its trouble)."""
        try:
            self._from_remotes[link.remote.name] = await link.targets()
        except ConsoleError:
            self._from_remotes.setdefault(link.remote.name, [])

    def update(self, found: Iterable[Target], keep: Callable[[str], bool]) -> list[str]:
        """Take what a new look found; return the names of found targets that went away.

        A line found twice keeps its first finding; a found target that is gone stays while
        `keep(name)` says so (an operator has it open)."""
        fresh: dict[LineKey, Target] = {}
        for target in found:
            key = line_key(target.console)
            if key not in self._claimed and key not in fresh:
                fresh[key] = target
        kept: dict[LineKey, Target] = {}
        gone = []
        changed = set(fresh) != set(self._found)
        remembered = self._remembered() if changed else {}
        for key, old in self._found.items():
            if key in fresh:
                kept[key] = dataclasses.replace(fresh.pop(key), name=old.name)
            elif keep(old.name):
                kept[key] = old
            else:
                gone.append(old.name)
        taken = {t.name for t in self.configured} | {t.name for t in kept.values()}
        for key, target in fresh.items():
            name = remembered.get(_text(key), "")
            if name in taken or not (name == target.name or name.startswith(f"{target.name}-")):
                name = unique_name(target.name, taken)
            kept[key] = dataclasses.replace(target, name=name)
            taken.add(name)
        self._found = kept
        if changed:
            self._remember({_text(key): target.name for key, target in kept.items()})
        ordered = sorted(kept.values(), key=lambda t: (source_rank(t.source), t.name))
        self.targets = self.configured + tuple(ordered)
        return gone + self._place_remotes(keep)

    def _place_remotes(self, keep: Callable[[str], bool]) -> list[str]:
        """Name the remotes' targets (their own name, `REMOTE.NAME` when taken) after the rest;
        return the names of those that went away."""
        taken = {t.name for t in self.targets}
        placed: dict[tuple[str, str], Target] = {}
        for remote, found in self._from_remotes.items():
            for target in found:
                key = (remote, target.name)
                before = self._placed.get(key)
                name = before.name if before else target.name
                if name in taken:
                    name = unique_name(f"{remote}.{target.name}"[:64], taken)
                taken.add(name)
                placed[key] = dataclasses.replace(target, name=name)
        gone = []
        for key, before in self._placed.items():
            if key in placed:
                continue
            if keep(before.name) and before.name not in taken:
                placed[key] = before
                taken.add(before.name)
            else:
                gone.append(before.name)
        self._placed = placed
        self.targets += tuple(placed.values())
        return gone

    def _remembered(self) -> dict[str, str]:
        """The names found lines were given last, by this process or another."""
        if self.memory is None:
            return {}
        try:
            raw = json.loads(self.memory.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(raw, dict):
            return {}
        return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}

    def _remember(self, names: dict[str, str]) -> None:
        if self.memory is None:
            return
        partial = self.memory.with_name(f".{self.memory.name}.{os.getpid()}")
        with contextlib.suppress(OSError):
            with paths.open_private(partial, "w") as out:
                json.dump(names, out, indent=1, sort_keys=True)
            os.replace(partial, self.memory)


def _text(key: LineKey) -> str:
    return ":".join(key)


def _may_see(user: User, target: Target) -> bool:
    if target.source not in ("config", "remote"):
        return user.role is Role.ADMIN or discovery.DISCOVERED_GROUP in user.groups
    return "*" in user.groups or target.group in user.groups


def source_rank(source: str) -> int:
    return SOURCES.index(source) if source in SOURCES else len(SOURCES)

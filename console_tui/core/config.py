"""The TOML config: where it is, what it holds, and errors that name file:line and the fix.

One module for the whole schema (over 400 lines), so every table's rules and error words sit
together: every check stands next to the key it checks.
"""

from __future__ import annotations

import difflib
import enum
import os
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if sys.version_info >= (3, 11):  # noqa: UP036 - tomli serves older Pythons
    import tomllib
else:  # pragma: no cover - 3.10 and older
    import tomli as tomllib

from console_tui.core import paths
from console_tui.core.errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
OS_KINDS = ("linux", "windows")
KEY_STYLES = ("xterm", "vt220", "vt100+")

SETTING_RANGES: dict[str, tuple[int, int]] = {
    "scrollback_lines": (0, 1_000_000),
    "paste_limit": (0, 4 << 20),
    "idle_timeout": (0, 30 * 24 * 3600),
    "transcript_max_bytes": (4096, 1 << 40),
    "transcript_files": (1, 1000),
}
"""The sane range of each number in [settings], ends included."""
BAUD_RANGE = (50, 4_000_000)


class Role(enum.StrEnum):
    """What a user may do: viewers watch; operators also type and act; admins also manage others."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_ORDER.index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank

    def at_most(self, other: Role) -> Role:
        """This role, or `other` when this one is higher (a role can only be lowered)."""
        return self if self.rank <= other.rank else other


_ROLE_ORDER = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)
ROLES = tuple(role.value for role in Role)


@dataclass(frozen=True)
class Settings:
    theme: str = "console-dark"
    scrollback_lines: int = 10000
    paste_limit: int = 2048
    screen_reader: bool = False
    bell: bool = False
    idle_timeout: int = 0
    transcript_max_bytes: int = 8 * 1024 * 1024
    transcript_files: int = 5
    audit_max_bytes: int = 8 * 1024 * 1024
    audit_files: int = 5
    max_sessions: int = 16
    """full-screen app sessions over SSH at once, for everybody (about 45 MB each); 0: no limit"""
    max_sessions_per_user: int = 4
    keymap: dict[str, str] = field(default_factory=dict)
    alerts: tuple[str, ...] = ()
    """Patterns (regular expressions) that raise an alert on every target, beside the defaults."""
    alert_command: tuple[str, ...] = ()
    """A program and its arguments run on an alert (never through a shell), with CONSOLE_TUI_TARGET,
    CONSOLE_TUI_ALERT and CONSOLE_TUI_LINE in its environment."""
    alert_timeout: int = 10
    concentrators: tuple[str, ...] = ()
    """`listen://HOST:PORT` sockets that `serve` opens for VMs to dial into (core/listener.py); a
    VM no target claims appears as a found target."""


@dataclass(frozen=True)
class Target:
    name: str
    console: str
    group: str = "default"
    control: str = ""
    os: str = "linux"
    keys: str = "xterm"
    baud: int = 115200
    on_detach: str = ""
    description: str = ""
    capture: bool = True
    alerts: tuple[str, ...] = ()
    """Extra alert patterns for this target (regular expressions)."""
    """Under `serve`, hold and record this line from the start (false: a line another tool uses)."""
    source: str = "config"
    where: str = ""


@dataclass(frozen=True)
class Discovery:
    """`[discovery]`: which sources add targets without config (core/discovery.py)."""

    qemu: bool = True
    serial: bool = True
    folders: tuple[str, ...] = ()
    where: str = field(default="", compare=False)


@dataclass(frozen=True)
class User:
    name: str
    role: Role = Role.VIEWER
    keys: tuple[str, ...] = ()
    keys_file: str = ""
    groups: tuple[str, ...] = ("*",)
    where: str = ""


@dataclass(frozen=True)
class Remote:
    """`[[remote]]`: another `console-tui serve` whose targets this one lists and opens through
    one SSH connection (core/remotes.py)."""

    name: str
    url: str
    """ssh://USER@HOST[:PORT], the SSH address of the other serve (user `console` as a rule)"""
    key: str = ""
    """the private key file to log in with (else the operator's SSH agent and default keys)"""
    known_hosts: str = ""
    """a known_hosts file to check the server's host key against (else ~/.ssh/known_hosts)"""
    group: str = ""
    """the group its targets are in here (default: the remote's name)"""
    where: str = ""


@dataclass(frozen=True)
class Config:
    path: Path | None
    settings: Settings = field(default_factory=Settings)
    targets: tuple[Target, ...] = ()
    users: tuple[User, ...] = ()
    discovery: Discovery = field(default_factory=Discovery)
    remotes: tuple[Remote, ...] = ()

    def target(self, name: str) -> Target:
        return find_target(self.targets, name, str(self.path or "config"))


def find_target(targets: tuple[Target, ...], name: str, where: str) -> Target:
    """The target called `name`, else an error naming the close one and the known ones."""
    for target in targets:
        if target.name == name:
            return target
    hint = _did_you_mean(name, [t.name for t in targets])
    known = ", ".join(t.name for t in targets) or "none"
    raise ConfigError(
        f"no target named {name!r}{hint}",
        where=where,
        fix=f"known targets: {known}; `console-tui list` shows them",
    )


def locate(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """The config path and whether the user named it (a named file must exist)."""
    if explicit:
        return Path(explicit).expanduser(), True
    env = os.environ.get("CONSOLE_TUI_CONFIG")
    if env:
        return Path(env).expanduser(), True
    return paths.config_dir() / "config.toml", False


def load(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Find and load the config; a missing default file is an empty config."""
    path, named = locate(explicit)
    if not path.exists():
        if named:
            raise ConfigError(
                "config file does not exist",
                where=str(path),
                fix="create it (see README: Config) or point --config at an existing file",
            )
        return Config(path=None)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read config: {exc.strerror}", where=str(path), fix="check its permissions"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"config is not UTF-8 text: byte 0x{raw[exc.start]:02x} at column {column}",
            where=f"{path}:{line}",
            fix="save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8), or retype that character",
        ) from None
    return parse(text, path)


def parse(text: str, path: Path | None = None) -> Config:
    """Parse and validate config text; every error names file:line."""
    where_file = str(path) if path else "config"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(exc)
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(
            f"not valid TOML: {message}",
            where=f"{where_file}:{line}" if line else where_file,
            fix="fix the syntax on that line (strings need quotes, tables [name], lists [[name]])",
        ) from None
    except ValueError:  # tomllib reads no integer of more than 4300 digits
        long_number = re.search(r"\d{4000,}", text)
        line = text.count("\n", 0, long_number.start()) + 1 if long_number else 0
        raise ConfigError(
            "a number too long to read",
            where=f"{where_file}:{line}" if line else where_file,
            fix="use a number in the setting's range",
        ) from None
    lines = _LineIndex(text)

    def where(*key: str | int) -> str:
        return f"{where_file}:{lines.find(*key)}"

    _check_keys(data, ("settings", "target", "user", "discovery", "remote"), where, ())
    settings = _settings(data.get("settings", {}), where)
    targets = _targets(data.get("target", []), where)
    users = _users(data.get("user", []), where)
    discovery = _discovery(data.get("discovery", {}), where)
    remotes = _remotes(data.get("remote", []), where)
    return Config(
        path=path,
        settings=settings,
        targets=targets,
        users=users,
        discovery=discovery,
        remotes=remotes,
    )


def _settings(raw: Any, where: Any) -> Settings:
    if not isinstance(raw, dict):
        raise ConfigError(
            "[settings] must be a table", where=where("settings"), fix="write [settings]"
        )
    allowed = {f.name: f for f in fields(Settings)}
    _check_keys(raw, tuple(allowed), where, ("settings",))
    values: dict[str, Any] = {}
    defaults = Settings()
    for key, value in raw.items():
        expected = type(getattr(defaults, key))
        values[key] = _typed(value, expected, where("settings", key), f"settings.{key}")
        if key in SETTING_RANGES:
            _in_range(value, SETTING_RANGES[key], where("settings", key), f"settings.{key}")
        elif expected is int and values[key] < 0:
            raise ConfigError(
                f"settings.{key} is negative", where=where("settings", key), fix="use 0 or more"
            )
    _check_patterns(values, where, "settings")
    _check_concentrators(values.get("concentrators", ()), where("settings", "concentrators"))
    return Settings(**values)


def _check_concentrators(uris: tuple[str, ...], where: str) -> None:
    """Each concentrator is a bare `listen://HOST:PORT` (targets pick VMs, not the listener)."""
    from console_tui.core.backings import parse_console_uri

    for text in uris:
        try:
            uri = parse_console_uri(text)
        except ValueError as exc:
            raise ConfigError(f"concentrators: {exc}", where=where, fix=_uri_fix(exc)) from None
        if uri.scheme != "listen" or uri.params:
            raise ConfigError(
                f"concentrators: {text!r} is not a bare listen://HOST:PORT",
                where=where,
                fix='e.g. concentrators = ["listen://0.0.0.0:7001"]; pick VMs in each target\'s '
                "console (listen://0.0.0.0:7001?vm=NAME)",
            )


def _targets(raw: Any, where: Any) -> tuple[Target, ...]:
    from console_tui.core.backings import parse_console_uri
    from console_tui.core.control import parse_control_uri

    if not isinstance(raw, list):
        raise ConfigError(
            "target must be [[target]] entries", where=where("target"), fix="write [[target]]"
        )
    allowed = tuple(f.name for f in fields(Target) if f.name not in ("source", "where"))
    seen: dict[str, str] = {}
    targets = []
    for index, entry in enumerate(raw):
        here = where("target", index)
        _check_keys(entry, allowed, where, ("target", index))
        for required in ("name", "console"):
            if required not in entry:
                raise ConfigError(
                    f"[[target]] has no {required}",
                    where=here,
                    fix=f'add {required} = "..." to this target',
                )
        values = {}
        for key, value in entry.items():
            expected = type(getattr(Target("x", "x"), key))
            values[key] = _typed(value, expected, where("target", index, key), f"target.{key}")
        _check_patterns(values, where, "target", index)
        name = values["name"]
        name_where = where("target", index, "name")
        check_name(name, name_where, "target")
        if name in seen:
            raise ConfigError(
                f"duplicate target name {name!r} (first at {seen[name]})",
                where=name_where,
                fix="give each target a unique name",
            )
        seen[name] = name_where
        try:
            parse_console_uri(values["console"])
        except ValueError as exc:
            raise ConfigError(
                f"console: {exc}", where=where("target", index, "console"), fix=_uri_fix(exc)
            ) from None
        if values.get("control"):
            try:
                parse_control_uri(values["control"])
            except ValueError as exc:
                raise ConfigError(
                    f"control: {exc}", where=where("target", index, "control"), fix=_uri_fix(exc)
                ) from None
        _choice(values, "os", OS_KINDS, where("target", index, "os"))
        if "keys" not in values and values.get("os") == "windows":
            values["keys"] = "vt100+"
        _choice(values, "keys", KEY_STYLES, where("target", index, "keys"))
        if "group" in values:
            check_name(values["group"], where("target", index, "group"), "group")
        if "baud" in values:
            _in_range(values["baud"], BAUD_RANGE, where("target", index, "baud"), "target.baud")
        targets.append(Target(**values, where=name_where))
    return tuple(targets)


def _users(raw: Any, where: Any) -> tuple[User, ...]:
    if not isinstance(raw, list):
        raise ConfigError(
            "user must be [[user]] entries", where=where("user"), fix="write [[user]]"
        )
    allowed = tuple(f.name for f in fields(User) if f.name != "where")
    users = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        here = where("user", index)
        _check_keys(entry, allowed, where, ("user", index))
        if "name" not in entry:
            raise ConfigError("[[user]] has no name", where=here, fix='add name = "..."')
        values: dict[str, Any] = {}
        for key, value in entry.items():
            key_where = where("user", index, key)
            if key in ("keys", "groups"):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(
                        f"user.{key} must be a list of strings",
                        where=key_where,
                        fix=f'{key} = ["..."]',
                    )
                values[key] = tuple(value)
            else:
                values[key] = _typed(value, str, key_where, f"user.{key}")
        check_name(values["name"], where("user", index, "name"), "user")
        if values["name"] in seen:
            raise ConfigError(
                f"duplicate user {values['name']!r}", where=here, fix="give each user a unique name"
            )
        seen.add(values["name"])
        _choice(values, "role", ROLES, where("user", index, "role"))
        if "role" in values:
            values["role"] = Role(values["role"])
        users.append(User(**values, where=here))
    return tuple(users)


def _discovery(raw: Any, where: Any) -> Discovery:
    if not isinstance(raw, dict):
        raise ConfigError(
            "discovery must be a table", where=where("discovery"), fix="write [discovery]"
        )
    _check_keys(raw, ("qemu", "serial", "folders"), where, ("discovery",))
    values: dict[str, Any] = {}
    for key in ("qemu", "serial"):
        if key in raw:
            values[key] = _typed(raw[key], bool, where("discovery", key), f"discovery.{key}")
    folders = raw.get("folders", [])
    here = where("discovery", "folders")
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        raise ConfigError(
            "discovery.folders must be a list of folder paths",
            where=here,
            fix='e.g. folders = ["/run/qemu"]',
        )
    expanded = [os.path.expanduser(folder) for folder in folders]
    for folder, full in zip(folders, expanded, strict=True):
        if not os.path.isabs(full):
            raise ConfigError(
                f"discovery.folders: {folder!r} is not an absolute path",
                where=here,
                fix='write the whole path, e.g. "/run/qemu" or "~/vms"',
            )
    values["folders"] = tuple(dict.fromkeys(expanded))
    return Discovery(**values, where=where("discovery"))


def _remotes(raw: Any, where: Any) -> tuple[Remote, ...]:
    if not isinstance(raw, list):
        raise ConfigError(
            "remote must be [[remote]] entries", where=where("remote"), fix="write [[remote]]"
        )
    allowed = tuple(f.name for f in fields(Remote) if f.name != "where")
    remotes: list[Remote] = []
    for index, entry in enumerate(raw):
        _check_keys(entry, allowed, where, ("remote", index))
        for required in ("name", "url"):
            if required not in entry:
                raise ConfigError(
                    f"[[remote]] has no {required}",
                    where=where("remote", index),
                    fix='e.g. name = "rack2" and url = "ssh://console@rack2.example:2222"',
                )
        values = {
            key: _typed(value, str, where("remote", index, key), f"remote.{key}")
            for key, value in entry.items()
        }
        check_name(values["name"], where("remote", index, "name"), "remote")
        if any(r.name == values["name"] for r in remotes):
            raise ConfigError(
                f"duplicate remote {values['name']!r}",
                where=where("remote", index, "name"),
                fix="give each remote a unique name",
            )
        url = urlsplit(values["url"])
        try:
            url.port  # noqa: B018 - reading it checks it
        except ValueError:
            url = url._replace(netloc="")
        if url.scheme != "ssh" or not url.hostname or url.path not in ("", "/"):
            raise ConfigError(
                f"remote.url {values['url']!r} is not ssh://USER@HOST[:PORT]",
                where=where("remote", index, "url"),
                fix='e.g. url = "ssh://console@rack2.example:2222"',
            )
        for key in ("key", "known_hosts"):
            if values.get(key):
                values[key] = os.path.expanduser(values[key])
                if not os.path.isabs(values[key]):
                    raise ConfigError(
                        f"remote.{key} {values[key]!r} is not an absolute path",
                        where=where("remote", index, key),
                        fix='write the whole path, e.g. "~/.ssh/id_ed25519"',
                    )
        values.setdefault("group", values["name"])
        check_name(values["group"], where("remote", index, "group"), "group")
        remotes.append(Remote(**values, where=where("remote", index)))
    return tuple(remotes)


def check_name(name: str, where: str, what: str) -> None:
    """Names become file names and SSH commands: letters, digits, `.`, `_`, `-`, no path tricks."""
    if not NAME_RE.match(name) or set(name) <= {"."}:
        raise ConfigError(
            f"bad {what} name {name!r}",
            where=where,
            fix="use letters, digits, '.', '_' and '-' only, starting with a letter or digit "
            "(at most 64)",
        )


def _check_patterns(values: dict[str, Any], where: Any, *key: str | int) -> None:
    """Alert patterns are regular expressions: a broken one is named with its line."""
    for pattern in values.get("alerts", ()):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(
                f"alert pattern {pattern!r} is not a regular expression: {exc}",
                where=where(*key, "alerts"),
                fix="escape special characters with a backslash, e.g. 'Kernel panic \\(.*\\)'",
            ) from None


def _typed(value: Any, expected: type, where: str, key: str) -> Any:
    if expected is float and isinstance(value, int):
        return float(value)
    if expected is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f"{key} must be a list of strings",
                where=where,
                fix=f'write {key.split(".")[-1]} = ["..."]',
            )
        return tuple(value)
    if (expected is int and isinstance(value, bool)) or not isinstance(value, expected):
        names = {str: "a string", int: "a whole number", bool: "true or false", dict: "a table"}
        got = type(value).__name__
        raise ConfigError(
            f"{key} must be {names.get(expected, expected.__name__)}, not {got}",
            where=where,
            fix=f"write {key.split('.')[-1]} = {_example(expected)}",
        )
    return value


def _in_range(value: int, bounds: tuple[int, int], where: str, key: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        fix = f"use a whole number from {low} to {high}"
        raise ConfigError(f"{key} = {value} is out of range", where=where, fix=fix)


def _example(expected: type) -> str:
    return {str: '"text"', int: "1", bool: "true", dict: "{ }"}.get(expected, "...")


def _choice(values: dict[str, Any], key: str, choices: tuple[str, ...], where: str) -> None:
    if key in values and values[key] not in choices:
        hint = _did_you_mean(values[key], list(choices))
        raise ConfigError(
            f"{key} = {values[key]!r} is not one of {', '.join(choices)}{hint}",
            where=where,
            fix=f"use one of: {', '.join(choices)}",
        )


def _check_keys(
    table: Any, allowed: tuple[str, ...], where: Any, at: tuple[str | int, ...]
) -> None:
    if not isinstance(table, dict):
        raise ConfigError("expected a table", where=where(*at), fix="check the brackets")
    for key in table:
        if key not in allowed:
            hint = _did_you_mean(key, list(allowed))
            section = ".".join(str(a) for a in at if isinstance(a, str)) or "top level"
            raise ConfigError(
                f"unknown key {key!r} in {section}{hint}",
                where=where(*at, key),
                fix=f"remove it, or use one of: {', '.join(allowed)}",
            )


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _uri_fix(exc: ValueError) -> str:
    return getattr(exc, "fix", "") or "see README: Console backings for the URI forms"


def _toml_error_line(exc: Exception) -> int | None:
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    match = re.search(r"at line (\d+)", str(exc))
    return int(match.group(1)) if match else None


class _LineIndex:
    """Line numbers of tables and keys, which tomllib does not keep."""

    _header = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?")
    _key = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")

    def __init__(self, text: str) -> None:
        self.places: dict[tuple[str | int, ...], int] = {}
        section: tuple[str | int, ...] = ()
        counts: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._header.match(line)
            if header:
                name = header.group(2)
                if header.group(1) == "[[":
                    index = counts.get(name, 0)
                    counts[name] = index + 1
                    section = (name, index)
                    self.places.setdefault((name,), number)
                else:
                    section = (name,)
                self.places.setdefault(section, number)
                continue
            key = self._key.match(line)
            if key:
                self.places.setdefault((*section, key.group(1).strip('"')), number)

    def find(self, *key: str | int) -> int:
        while key:
            if key in self.places:
                return self.places[key]
            key = key[:-1]
        return 1

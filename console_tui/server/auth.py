"""Who may log in: public keys from `[[user]]`, the host key, and a limit on failed attempts.

The login name `console` works for every configured user and the key decides who it is; a user's own
name works too. There are no passwords.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import asyncssh

from console_tui.core import paths
from console_tui.core.config import User
from console_tui.core.errors import ConfigError

SHARED_LOGIN = "console"
HOST_KEY_NAME = "ssh_host_ed25519_key"


class KeyRing:
    """Every configured user's public keys, looked up by the key a client offers."""

    def __init__(self, users: tuple[User, ...]) -> None:
        self.users = users
        self._by_key: dict[bytes, User] = {}
        for user in users:
            for key in _user_keys(user):
                self._by_key.setdefault(key.public_data, user)

    def __len__(self) -> int:
        return len(self._by_key)

    def user_for(self, login: str, key: asyncssh.SSHKey) -> User | None:
        """The user this key belongs to, if the login name is `console` or that user's name."""
        user = self._by_key.get(key.public_data)
        if user is None or login not in (SHARED_LOGIN, user.name):
            return None
        return user


def _user_keys(user: User) -> list[asyncssh.SSHKey]:
    keys = []
    for index, text in enumerate(user.keys):
        try:
            keys.append(asyncssh.import_public_key(text))
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise ConfigError(
                f"user {user.name}: keys[{index}] is not an SSH public key ({exc})",
                where=user.where,
                fix='paste one line of a .pub file, e.g. "ssh-ed25519 AAAA... name@host"',
            ) from None
    if user.keys_file:
        path = Path(user.keys_file).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(
                f"user {user.name}: cannot read keys_file {path}: {exc.strerror}",
                where=user.where,
                fix="point keys_file at an authorized_keys-style file the server can read",
            ) from None
        for number, line in enumerate(lines, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                keys.append(asyncssh.import_public_key(line))
            except (asyncssh.KeyImportError, ValueError):
                raise ConfigError(
                    f"user {user.name}: line {number} of keys_file is not an SSH public key",
                    where=f"{path}:{number}",
                    fix="one public key per line, without options",
                ) from None
    return keys


class FailureLimiter:
    """Failed connections per source address in a sliding window; over the limit, the source waits.

    A failed connection is one that ended without logging in, however many keys it offered (an
    agent may hold many), as OpenSSH's per-source penalties count: a user whose last key works is
    never held back by the keys before it. Memory stays bounded under a flood from many sources.
    """

    SOURCES_MAX = 10000

    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, source: str, now: float) -> int:
        failures = self._failures.get(source)
        if failures is None:
            return 0
        while failures and now - failures[0] > self.window:
            failures.popleft()
        if not failures:
            del self._failures[source]
        return len(failures)

    def blocked(self, source: str) -> bool:
        return self._recent(source, time.monotonic()) >= self.limit

    def failed(self, source: str) -> None:
        now = time.monotonic()
        if source not in self._failures and len(self._failures) >= self.SOURCES_MAX:
            for other in list(self._failures):
                self._recent(other, now)
            if len(self._failures) >= self.SOURCES_MAX:
                del self._failures[next(iter(self._failures))]
        self._failures.setdefault(source, deque(maxlen=self.limit)).append(now)


def host_key_path() -> Path:
    return paths.data_dir() / HOST_KEY_NAME


def load_host_key(path: Path | None = None) -> asyncssh.SSHKey:
    """The server's host key: generated once (0600, in the data dir) and reused after."""
    path = path or host_key_path()
    if not path.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        with paths.open_private(path, "wb") as handle:
            handle.write(key.export_private_key())
    try:
        return asyncssh.read_private_key(str(path))
    except (OSError, asyncssh.KeyImportError) as exc:
        raise ConfigError(
            f"cannot read the SSH host key: {exc}",
            where=str(path),
            fix="remove the file to generate a new one (clients will see a changed host key)",
        ) from None

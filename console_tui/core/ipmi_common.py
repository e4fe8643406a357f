"""What the IPMI console (`ipmi-sol://`) and control (`ipmi://`) share: the BMC's address, the
password (from a 0600 file or an environment variable, never from config text, never logged) and the
BMC's refusals in words.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console_tui.core.errors import ConfigError, NotPermittedError, UnreachableError

DEFAULT_PORT = 623
COMMAND_TIMEOUT = 30.0


@dataclass(frozen=True)
class PasswordSource:
    """Where a target's BMC password is: `password_file` or `password_env` from its config."""

    file: str = ""
    env: str = ""
    where: str = ""

    def __bool__(self) -> bool:
        return bool(self.file or self.env)

    def read(self) -> str:
        """The password; a clear error when it is missing or the file is readable by others."""
        if self.file:
            return _read_password_file(Path(self.file).expanduser(), self.where)
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError(
                    f"the environment variable {self.env} (password_env) is not set",
                    where=self.where,
                    fix=f"export {self.env} in the environment console-tui runs in",
                )
            return value
        raise ConfigError(
            "the BMC password is not configured",
            where=self.where,
            fix='add password_file = "/path/to/file" (mode 0600) or password_env = "VARIABLE" '
            "to the target; a password in the config text itself is never read",
        )


def _read_password_file(path: Path, where: str) -> str:
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the password file {path}: {exc.strerror}",
            where=where,
            fix="check password_file: the file must exist and be readable by this user",
        ) from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the password file {path} is readable by others "
            f"(mode {stat.S_IMODE(info.st_mode):04o})",
            where=where,
            fix=f"chmod 600 {path}",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the password file {path}: {exc}",
            where=where,
            fix="the file holds the password on its first line, as UTF-8 text",
        ) from None
    password = text.splitlines()[0] if text else ""
    if not password:
        raise ConfigError(
            f"the password file {path} is empty",
            where=where,
            fix="write the BMC password on its first line",
        )
    return password


@dataclass(frozen=True)
class BMC:
    """One BMC login: host, UDP port, user and password (kept out of repr and messages)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)

    @property
    def place(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def bmc_of(scheme: str, host: str, port: int, user: str, source: PasswordSource | None) -> BMC:
    """The BMC login for a URI's parts, reading the password now."""
    if not user:
        raise ConfigError(
            f"{scheme}:// needs a user",
            where=f"{scheme}://{host}",
            fix=f"write {scheme}://USER@{host}:{port or DEFAULT_PORT}",
        )
    return BMC(host, port or DEFAULT_PORT, user, (source or PasswordSource()).read())


REFUSAL_FIX = {
    "Incorrect password provided": "check the password in password_file / password_env and the "
    "user name in the URI",
    "Unauthorized name": "check the user name in the URI",
    "timeout": "check the host and UDP port, and that IPMI over LAN is enabled on the BMC",
}


def bmc_error(words: str, bmc: BMC, action: str, *, refused: bool = False) -> Exception:
    """A failure the BMC reported (`words` are its own), as an operator error."""
    where = f"ipmi: {bmc.place}"
    words = words.replace(bmc.password, "***") if bmc.password else words
    if "password" in words.lower() or "unauthorized" in words.lower():
        return NotPermittedError(
            f"the BMC refused the login: {words}", where=where, fix=REFUSAL_FIX.get(words, "")
        )
    if refused:
        return NotPermittedError(
            f"the BMC refused {action}: {words}",
            where=where,
            fix="this BMC does not offer it; see its documentation or firmware settings",
        )
    fix = REFUSAL_FIX["timeout"] if "timeout" in words.lower() else "check the BMC"
    return UnreachableError(f"cannot {action}: {words}", where=where, fix=fix)


async def ipmi_command(bmc: BMC, op: str, arg: str, action: str) -> Any:
    """One IPMI command in a child process (`control/_ipmi_command.py`), apart from any SOL
    console of the same login here; the password goes to it on stdin."""
    request = json.dumps(
        {
            "host": bmc.host,
            "port": bmc.port,
            "user": bmc.user,
            "password": bmc.password,
            "op": op,
            "arg": arg,
        }
    ).encode()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console_tui.core.control._ipmi_command",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(child.communicate(request), COMMAND_TIMEOUT)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise UnreachableError(
            f"the BMC did not answer within {COMMAND_TIMEOUT:.0f} s ({action})",
            where=f"ipmi: {bmc.place}",
            fix="check the host and UDP port, and that IPMI over LAN is enabled",
        ) from None
    try:
        answer = json.loads(out or b"{}")
    except ValueError:
        answer = {}
    if "ok" in answer:
        return answer["ok"]
    words = str(answer.get("error") or "no answer from the IPMI helper")
    code = int(answer.get("code") or 0)
    if code:
        words = f"{words} (completion code 0x{code:02x})"
    raise bmc_error(words, bmc, action, refused=bool(code))

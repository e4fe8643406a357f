"""Errors an operator sees: each says what failed, where, and how to fix it, and maps to an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_NOT_PERMITTED = 4


def in_mib(size: int) -> str:
    """A byte count for a message: `3.5 MiB`, or `512 bytes` below one MiB."""
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size} bytes"


class ConsoleError(Exception):
    """An error with a place and a fix, printed as one line: `where: what (fix)`."""

    exit_code = EXIT_USAGE

    def __init__(self, what: str, *, where: str = "", fix: str = "") -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        return f"{text}; {self.fix}" if self.fix else text


class ConfigError(ConsoleError):
    """The config file (or a command-line value) is wrong."""

    exit_code = EXIT_USAGE


class UsageError(ConsoleError):
    """The command line asks for something that cannot be done as asked."""

    exit_code = EXIT_USAGE


class UnreachableError(ConsoleError):
    """A target's console or control backing cannot be reached."""

    exit_code = EXIT_UNREACHABLE


class NotPermittedError(ConsoleError):
    """The operator or the backing may not do this action."""

    exit_code = EXIT_NOT_PERMITTED

"""Where console-tui keeps its files (platformdirs), and how it writes them: private to the user."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "console-tui"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP))


def state_dir() -> Path:
    """Transcripts, the audit log and the demo guest's files."""
    return Path(platformdirs.user_state_dir(APP))


def data_dir() -> Path:
    """The SSH host key."""
    return Path(platformdirs.user_data_dir(APP))


def runtime_dir() -> Path:
    """Sockets that live as long as a server does."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base:
        return Path(base) / APP
    return state_dir() / "run"


def local_user() -> str:
    """The name of the Unix account running this process, for audit records and lock labels."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by the user only, and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def open_private(path: Path, mode: str = "ab"):
    """Open a file that only its owner can read or write (0600), creating it that way."""
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode)

"""Transcripts: every byte a console sent, per target, in size-bounded rotated files (0600).

Keystrokes are never written here: passwords are typed on consoles.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from console_tui.core import paths


def transcript_path(target: str) -> Path:
    return paths.state_dir() / "transcripts" / f"{target}.log"


class Transcript:
    """Appends console output to `NAME.log`, rotating to `NAME.log.1` .. `NAME.log.N` at max_bytes."""

    def __init__(self, path: Path, *, max_bytes: int = 8 * 1024 * 1024, files: int = 5) -> None:
        self.path = path
        self.max_bytes = max(max_bytes, 4096)
        self.files = max(files, 1)
        self._file = paths.open_private(path, "ab")
        self._size = self._file.tell()

    def write(self, data: bytes) -> None:
        while data:
            room = self.max_bytes - self._size
            if room <= 0:
                self._rotate()
                continue
            chunk, data = data[:room], data[room:]
            self._file.write(chunk)
            self._size += len(chunk)
        self._file.flush()

    def mark(self, text: str) -> None:
        """A line of our own in the transcript (connect, reconnect), set apart from console bytes."""
        self.write(f"\r\n[console-tui] {text}\r\n".encode())

    def _rotate(self) -> None:
        self._file.close()
        for index in range(self.files - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                if index + 1 >= self.files:
                    older.unlink()
                else:
                    older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self.files > 1:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._file = paths.open_private(self.path, "ab")
        self._size = 0

    def close(self) -> None:
        self._file.close()


def transcript_files(path: Path) -> list[Path]:
    """The transcript's files, oldest first."""
    rotated = sorted(
        (p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()),
        key=lambda p: -int(p.suffix[1:]),
    )
    return [*rotated, *([path] if path.exists() else [])]


def read_transcript(path: Path) -> Iterator[bytes]:
    for file in transcript_files(path):
        with open(file, "rb") as handle:
            while chunk := handle.read(65536):
                yield chunk


async def follow_transcript(path: Path, *, poll: float = 0.2) -> AsyncIterator[bytes]:
    """New bytes appended to the transcript, following rotation, until cancelled."""
    handle = None
    inode = None
    try:
        while True:
            if handle is None and path.exists():
                handle = open(path, "rb")  # noqa: SIM115 - kept across iterations
                inode = os.fstat(handle.fileno()).st_ino
                handle.seek(0, os.SEEK_END)
            if handle is not None:
                chunk = handle.read(65536)
                if chunk:
                    yield chunk
                    continue
                try:
                    if os.stat(path).st_ino != inode:
                        yield handle.read()
                        handle.close()
                        handle = open(path, "rb")  # noqa: SIM115 - kept across iterations
                        inode = os.fstat(handle.fileno()).st_ino
                        continue
                except FileNotFoundError:
                    pass
            await asyncio.sleep(poll)
    finally:
        if handle is not None:
            handle.close()

"""Transcripts: every byte a console sent, per target, in size-bounded rotated files (0600).

Keystrokes are never written here: passwords are typed on consoles. A follower (the timed recording,
core/recording.py) is handed the same pieces and rotates at the same moment, so both cover one span.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Protocol

from console_tui.core import paths


def transcript_path(target: str) -> Path:
    return paths.state_dir() / "transcripts" / f"{target}.log"


FLUSH_DELAY = 0.2
"""A timed recording reaches its file at most this long after: one flush per burst of reads, not
one per read (200 lines at line rate read 4,000 times a second). The raw transcript, the lossless
record, is flushed once per turn of the event loop that wrote to it."""


class SoonFlush:
    """Flushes `file` once, `delay` (FLUSH_DELAY) after the first write that asked, however many
    ask; a delay of 0 flushes at the end of this turn of the event loop."""

    def __init__(self, file: IO[bytes], *, delay: float = FLUSH_DELAY) -> None:
        self.file = file
        self.delay = delay
        self._handle: asyncio.Handle | None = None

    def ask(self) -> None:
        if self._handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.file.flush()  # no event loop to wait in: now
            return
        if self.delay > 0:
            self._handle = loop.call_later(self.delay, self.now)
        else:
            self._handle = loop.call_soon(self.now)

    def now(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self.file.closed:
            self.file.flush()


class TranscriptFollower(Protocol):
    """Something kept in step with a transcript: it sees each piece written and each rotation."""

    def output(self, data: bytes) -> None: ...

    def rotated(self, files: int) -> None:
        """The transcript just rotated, keeping `files` files: do the same."""
        ...


class Transcript:
    """Appends console output to `NAME.log`, rotating to `NAME.log.1` .. `NAME.log.N` at max_bytes."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 8 * 1024 * 1024,
        files: int = 5,
        follower: TranscriptFollower | None = None,
    ) -> None:
        self.path = path
        self.max_bytes = max(max_bytes, 4096)
        self.files = max(files, 1)
        self.follower = follower
        self._file = paths.open_private(path, "ab")
        self._size = self._file.tell()
        self._flush = SoonFlush(self._file, delay=0.0)

    def write(self, data: bytes) -> None:
        while data:
            room = self.max_bytes - self._size
            if room <= 0:
                self._rotate()
                continue
            chunk, data = data[:room], data[room:]
            self._file.write(chunk)
            self._size += len(chunk)
            if self.follower is not None:
                self.follower.output(chunk)
        self._flush.ask()  # at the end of this turn of the event loop, however many reads it took

    def flush(self) -> None:
        """Flush now (records that must not wait for the end of the loop's turn)."""
        self._flush.now()

    def mark(self, text: str) -> None:
        """A line of our own in the transcript (connect, reconnect), set apart from console bytes."""
        self.write(f"\r\n[console-tui] {text}\r\n".encode())

    def _rotate(self) -> None:
        self._file.close()
        rotate_files(self.path, self.files)
        self._file = paths.open_private(self.path, "ab")
        self._flush = SoonFlush(self._file, delay=0.0)
        self._size = 0
        if self.follower is not None:
            self.follower.rotated(self.files)

    def close(self) -> None:
        self._file.close()


def rotate_files(path: Path, files: int) -> None:
    """Shift `path` to `path.1`, `path.1` to `path.2` ..., keeping `files` files in all."""
    for index in range(files - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if older.exists():
            if index + 1 >= files:
                older.unlink()
            else:
                older.replace(path.with_name(f"{path.name}.{index + 1}"))
    if files > 1:
        if path.exists():
            path.replace(path.with_name(f"{path.name}.1"))
    else:
        path.unlink(missing_ok=True)


def transcript_files(path: Path) -> list[Path]:
    """A transcript's (or recording's) files, oldest first."""
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


async def follow_transcript(
    path: Path, *, poll: float = 0.2, offset: int | None = None
) -> AsyncIterator[bytes]:
    """New bytes appended to the transcript (after `offset`, else after its end), following
    rotation, until cancelled."""
    handle = None
    inode = None
    try:
        while True:
            if handle is None and path.exists():
                handle = open(path, "rb")  # noqa: SIM115 - kept across iterations
                inode = os.fstat(handle.fileno()).st_ino
                handle.seek(*((0, os.SEEK_END) if offset is None else (offset, os.SEEK_SET)))
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

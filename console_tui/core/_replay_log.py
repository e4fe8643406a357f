"""A compact scrollback: the console's bytes, compressed, from which the rows are drawn again.

A terminal model holds each scrolled-off cell in 8 or more bytes, so 10,000 lines of scrollback
cost about 10 MB a screen whether anyone ever reads them. Console output is mostly plain text
that compresses several times over, so a screen can instead keep the bytes that made its
scrollback, in chunks, and replay them into a scratch model on the rare occasions the scrollback is
read (a late joiner, the reading view opening). Each chunk starts with a snapshot of the screen
as it was, so the oldest chunks can be dropped once the newer ones hold enough lines.
"""

from __future__ import annotations

import zlib
from collections import deque
from dataclasses import dataclass

CHUNK_BYTES = 256 * 1024
"""Console bytes in a chunk: a fresh snapshot starts each one, so the oldest can be dropped."""
PIECE_BYTES = 64 * 1024
"""Console bytes gathered before they are compressed, each piece on its own (zlib's fastest
level: no compressor is held between pieces, so a quiet line costs no compressor's memory)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes a console sent, at one screen size, from a known screen."""

    columns: int
    rows: int
    start: bytes
    """A snapshot of the screen the chunk started on (compressed)."""
    data: tuple[bytes, ...]
    """What the console sent, in pieces compressed one by one."""
    newlines: int


class ReplayLog:
    """The bytes that made the last `lines` lines of scrollback (at least), compressed."""

    def __init__(self, lines: int, columns: int, rows: int) -> None:
        self.lines = lines
        self.chunks: deque[Chunk] = deque()
        self._size = (columns, rows)
        self._start = zlib.compress(b"", 1)
        self._pieces: list[bytes] = []
        self._pending = bytearray()
        self._raw = 0
        self._newlines = 0

    @property
    def full(self) -> bool:
        """Whether the chunk in progress should be sealed (call `seal` with a fresh snapshot)."""
        return self._raw >= CHUNK_BYTES

    def feed(self, data: bytes) -> None:
        self._raw += len(data)
        self._newlines += data.count(b"\n")
        pending = self._pending
        pending += data
        if len(pending) >= PIECE_BYTES:
            self._pieces.append(zlib.compress(pending, 1))
            pending.clear()

    def _current(self) -> list[bytes]:
        """The chunk in progress so far, as compressed pieces."""
        if self._pending:
            self._pieces.append(zlib.compress(self._pending, 1))
            self._pending.clear()
        return self._pieces

    def seal(self, snapshot: bytes, columns: int, rows: int) -> None:
        """Close the chunk in progress; the next starts on `snapshot`, at `columns` x `rows`."""
        if self._raw or self._size != (columns, rows):
            pieces = tuple(self._current())
            self.chunks.append(Chunk(*self._size, self._start, pieces, self._newlines))
            self._pieces = []
            self._raw = self._newlines = 0
        self._size = (columns, rows)
        self._start = zlib.compress(snapshot, 1)
        self._trim()

    def _trim(self) -> None:
        """Drop the oldest chunks while the newer ones still make `lines` lines and a screen."""
        chunks = self.chunks
        total = sum(chunk.newlines for chunk in chunks) + self._newlines
        while chunks and total - chunks[0].newlines >= self.lines + chunks[0].rows:
            total -= chunks.popleft().newlines

    def replay(self) -> list[tuple[int, int, bytes]]:
        """What to feed a fresh model to rebuild the scrollback: `(columns, rows, bytes)` parts,
        the first starting with the snapshot the oldest kept chunk started on."""
        parts: list[tuple[int, int, bytes]] = []
        chunks = [(c.columns, c.rows, c.start, c.data) for c in self.chunks]
        chunks.append((*self._size, self._start, tuple(self._current())))
        for n, (columns, rows, start, pieces) in enumerate(chunks):
            data = b"".join(map(zlib.decompress, ((start,) if n == 0 else ()) + pieces))
            parts.append((columns, rows, data))
        return parts

    @property
    def size(self) -> int:
        """Bytes held, compressed."""
        held = sum(len(c.start) + sum(map(len, c.data)) for c in self.chunks)
        return held + len(self._start) + sum(map(len, self._pieces)) + len(self._pending)

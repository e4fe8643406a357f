"""A compact scrollback: the console's bytes, compressed, from which the rows are drawn again.

A terminal model holds each scrolled-off cell in 8 or more bytes, so 10,000 lines of scrollback
cost about 10 MB a screen whether anyone ever reads them. Console output is mostly plain text
that compresses several times over, so a screen can instead keep the bytes that made its
scrollback, in chunks, and replay them into a scratch model on the rare occasions the scrollback is
read (a late joiner, the reading view opening). Each chunk starts with a snapshot of the screen
as it was, so the oldest chunks can be dropped once the newer ones hold enough lines.
"""

from __future__ import annotations

import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

CHUNK_BYTES = 256 * 1024
"""Console bytes in a chunk: a fresh snapshot starts each one, so the oldest can be dropped."""
PIECE_BYTES = 64 * 1024
"""Console bytes gathered into a piece, the unit that is compressed."""
COMPRESS_AFTER = 2.0
"""Seconds a piece stays as it came before it is compressed (zlib's fastest level, each piece on
its own). A flood drops its pieces before then, as newer lines push them out, and so never pays
for compressing them; a line at its usual pace has all but its last seconds compressed."""


@dataclass(slots=True)
class Piece:
    """Some console bytes, as they came or compressed."""

    data: bytes
    born: float
    compressed: bool = False
    dropped: bool = False

    def raw(self) -> bytes:
        return zlib.decompress(self.data) if self.compressed else self.data


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes a console sent, at one screen size, from a known screen."""

    columns: int
    rows: int
    start: bytes
    """A snapshot of the screen the chunk started on (compressed)."""
    pieces: list[Piece]
    newlines: int


class ReplayLog:
    """The bytes that made the last `lines` lines of scrollback (at least), compressed once they
    are a few seconds old."""

    def __init__(
        self, lines: int, columns: int, rows: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lines = lines
        self.chunks: deque[Chunk] = deque()
        self._clock = clock
        self._size = (columns, rows)
        self._start = zlib.compress(b"", 1)
        self._pieces: list[Piece] = []
        self._pending = bytearray()
        self._raw = 0
        self._newlines = 0
        self._young: deque[Piece] = deque()
        """Pieces not compressed yet, oldest first."""

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
            self._take_pending()
        if self._young:
            self._compress_old()

    def _take_pending(self) -> None:
        piece = Piece(bytes(self._pending), self._clock())
        self._pending.clear()
        self._pieces.append(piece)
        self._young.append(piece)

    def _compress_old(self) -> None:
        young, now = self._young, self._clock()
        while young and (young[0].dropped or now - young[0].born >= COMPRESS_AFTER):
            piece = young.popleft()
            if not piece.dropped:
                piece.data, piece.compressed = zlib.compress(piece.data, 1), True

    def seal(self, snapshot: bytes, columns: int, rows: int) -> None:
        """Close the chunk in progress; the next starts on `snapshot`, at `columns` x `rows`."""
        if self._raw or self._size != (columns, rows):
            if self._pending:
                self._take_pending()
            self.chunks.append(Chunk(*self._size, self._start, self._pieces, self._newlines))
            self._pieces = []
            self._raw = self._newlines = 0
        self._size = (columns, rows)
        self._start = zlib.compress(snapshot, 1)
        self._trim()
        self._compress_old()

    def _trim(self) -> None:
        """Drop the oldest chunks while the newer ones still make `lines` lines and a screen."""
        chunks = self.chunks
        total = sum(chunk.newlines for chunk in chunks) + self._newlines
        while chunks and total - chunks[0].newlines >= self.lines + chunks[0].rows:
            dropped = chunks.popleft()
            total -= dropped.newlines
            for piece in dropped.pieces:
                piece.dropped = True

    def replay(self) -> list[tuple[int, int, bytes]]:
        """What to feed a fresh model to rebuild the scrollback: `(columns, rows, bytes)` parts,
        the first starting with the snapshot the oldest kept chunk started on."""
        chunks = [(c.columns, c.rows, c.start, c.pieces) for c in self.chunks]
        chunks.append((*self._size, self._start, self._pieces))
        parts: list[tuple[int, int, bytes]] = []
        for n, (columns, rows, start, pieces) in enumerate(chunks):
            data = b"".join(piece.raw() for piece in pieces)
            if n == 0:
                data = zlib.decompress(start) + data
            if n == len(chunks) - 1:
                data += self._pending
            parts.append((columns, rows, data))
        return parts

    @property
    def size(self) -> int:
        """Bytes held."""
        pieces = [p for c in self.chunks for p in c.pieces] + self._pieces
        starts = sum(len(c.start) for c in self.chunks) + len(self._start)
        return starts + sum(len(p.data) for p in pieces) + len(self._pending)

"""Recordings: each target's console output with its timing, as asciicast v2 that asciinema plays.

`NAME.cast` sits beside the transcript `NAME.log` (same private folder, files 0600): a JSON header
line, then one JSON array per line: `[seconds, "o", text]` output, `[seconds, "r", "COLSxROWS"]` when
the session's screen size changes, and `[seconds, "m", label]` markers (BREAK, SysRq, NMI, reset,
reconnects, attach, detach, the write lock: who did what). Keystrokes and pastes are never recorded
(no "i" events): passwords are typed on consoles. Output text comes from an incremental UTF-8
decoder, so a character split across reads survives and invalid bytes become U+FFFD; the transcript
stays the lossless record.

A Recording follows its Transcript (core/transcript.py): it is handed the same pieces, marker lines
included, and rotates at the same moment, so `NAME.cast.N` covers the span of `NAME.log.N` and the
output events of a file, joined, are the text of its transcript file (a character cut in two by the
rotation goes whole into the newer recording).
"""

from __future__ import annotations

import codecs
import json
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import IO, Any

from console_tui.core import paths
from console_tui.core.errors import UsageError
from console_tui.core.transcript import (
    SoonFlush,
    follow_transcript,
    rotate_files,
    transcript_files,
    transcript_path,
)

IDLE_TIME_LIMIT = 2.0
"""Players shorten quiet spells to this many seconds: a console idles for hours between bursts."""

SINCE_FORMS = "a duration back from now (30s, 10m, 2h, 1d) or an ISO time (2024-05-01T12:00)"


def recording_path(target: str) -> Path:
    """`NAME.cast`, in the transcripts folder beside `NAME.log`."""
    return transcript_path(target).with_name(f"{target}.cast")


def _header(columns: int, rows: int, timestamp: int, title: str) -> dict[str, Any]:
    return {
        "version": 2,
        "width": columns,
        "height": rows,
        "timestamp": timestamp,
        "idle_time_limit": IDLE_TIME_LIMIT,
        "title": title,
    }


def _line(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode() + b"\n"


def _event_line(at: float, kind: str, data: str) -> bytes:
    """`[at, kind, data]` as a JSON line, built by hand: the one line written per console read,
    where a JSON encoder built per call (as `json.dumps` does) costs more than the rest."""
    return f'[{at!r}, "{kind}", {encode_basestring(data)}]\n'.encode()


class Recording:
    """Appends one target's timed output, resizes and markers to `NAME.cast`, rotating with its
    Transcript. A file that already holds a recording is continued under its own header."""

    def __init__(
        self,
        path: Path,
        *,
        columns: int = 80,
        rows: int = 24,
        title: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.size = (columns, rows)
        self.title = title or path.stem
        self._clock = clock
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._last = 0.0
        start = _continued_start(path)
        self._file: IO[bytes] = paths.open_private(path, "ab")
        self._flush = SoonFlush(self._file)
        if start is None:
            self._begin()
        else:
            self._start = start
            self._event("r", f"{columns}x{rows}")

    def _begin(self) -> None:
        """Start the (empty) file with a header: event times count from its whole second."""
        self._start = math.floor(self._clock())
        self._last = 0.0
        self._write(_header(*self.size, self._start, self.title))

    def _event(self, kind: str, data: str) -> None:
        at = max(self._last, round(self._clock() - self._start, 6))
        self._last = at
        self._file.write(_event_line(at, kind, data))
        self._flush.ask()

    def _write(self, value: object) -> None:
        self._file.write(_line(value))
        self._flush.ask()

    def output(self, data: bytes) -> None:
        """Console bytes (and the transcript's marker lines), as text."""
        text = self._decoder.decode(data)
        if text:
            self._event("o", text)

    def mark(self, label: str) -> None:
        """A marker players can jump to: who did what (BREAK, attach, the write lock ...)."""
        self._event("m", label.encode("utf-8", "replace").decode())

    def resize(self, columns: int, rows: int) -> None:
        if (columns, rows) != self.size:
            self.size = (columns, rows)
            self._event("r", f"{columns}x{rows}")

    def rotated(self, files: int) -> None:
        """The transcript rotated: rotate too, and start the new file with a fresh header.

        A character split at the rotation stays whole: it lands in the new file."""
        self._flush.now()
        self._file.close()
        rotate_files(self.path, files)
        self._file = self._flush.file = paths.open_private(self.path, "ab")
        self._begin()

    def flush(self) -> None:
        """Write what is buffered now (it goes by itself within FLUSH_DELAY)."""
        self._flush.now()

    def close(self) -> None:
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._event("o", tail)
        self._flush.now()
        self._file.close()


def _read_header(path: Path) -> dict[str, Any] | None:
    """The asciicast v2 header on a file's first line, or None when there is none."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(1 << 16)
        header = json.loads(first)
    except (OSError, ValueError):
        return None
    if (
        isinstance(header, dict)
        and header.get("version") == 2
        and isinstance(header.get("timestamp"), int)
    ):
        return header
    return None


def _continued_start(path: Path) -> int | None:
    """The start time of the recording already in `path`, made ready to append to; None for none.

    A file that is not a recording is set aside as `NAME.cast.unreadable` (nothing is lost); a
    line cut short (the writer was killed) is ended, so the lines after it stay readable."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None
    header = _read_header(path)
    if header is None:
        path.replace(path.with_name(f"{path.name}.unreadable"))
        return None
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        cut = handle.read(1) != b"\n"
    if cut:
        with paths.open_private(path, "ab") as handle:
            handle.write(b"\n")
    return int(header["timestamp"])


# -- reading --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CastEvent:
    """One recorded event at a UNIX time: "o" output text, "m" a marker, "r" a size COLSxROWS."""

    at: float
    kind: str
    data: str


class CastParser:
    """Turns a recording's lines into events in UNIX time; a header line sets the clock.

    Lines it cannot read are skipped and noted in `skipped` (path:line and why); `offset` is how
    far into the newest file `read_recording` got, where following it goes on."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.skipped: list[str] = []
        self.offset = 0

    def parse(self, line: str, where: str) -> CastEvent | None:
        try:
            value = json.loads(line)
        except ValueError:
            return self._skip(where, "not JSON")
        if isinstance(value, dict):
            if value.get("version") != 2 or not isinstance(value.get("timestamp"), int):
                return self._skip(where, "not an asciicast v2 header")
            self.start = value["timestamp"]
            return CastEvent(float(value["timestamp"]), "r", f"{value['width']}x{value['height']}")
        if (
            not isinstance(value, list)
            or len(value) != 3
            or not isinstance(value[0], int | float)
            or not all(isinstance(part, str) for part in value[1:])
        ):
            return self._skip(where, "not an event [seconds, kind, text]")
        if self.start is None:
            return self._skip(where, "an event before any header")
        return CastEvent(self.start + value[0], value[1], value[2])

    def _skip(self, where: str, why: str) -> CastEvent | None:
        """Note a line that cannot be read; there is no event for it."""
        self.skipped.append(f"{where}: skipped a line: {why}")
        return None


def read_recording(path: Path, parser: CastParser | None = None) -> Iterator[CastEvent]:
    """Every event of a recording's files, oldest first. A last line still being written is left
    for `follow_recording`."""
    parser = parser or CastParser()
    for file in transcript_files(path):
        parser.start = None
        parser.offset = 0
        with open(file, "rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.endswith(b"\n"):
                    if file != path:
                        parser.skipped.append(f"{file}:{number}: skipped a line: cut short")
                    break
                parser.offset += len(line)
                if line.strip() and (
                    event := parser.parse(line.decode(errors="replace"), f"{file}:{number}")
                ):
                    yield event


class CastWriter:
    """Writes events as one asciicast v2 stream from `since` on: a fresh header whose size is the
    one in force then, and times counted from the first event kept, so playing starts at 0."""

    def __init__(self, out: IO[bytes], *, title: str, since: float | None = None) -> None:
        self.out = out
        self.title = title
        self.since = since
        self.size = (80, 24)
        self.origin: float | None = None
        self._last = 0.0

    def add(self, event: CastEvent) -> None:
        if event.kind == "r":
            size = _parse_size(event.data)
            if size is None or size == self.size:
                return
            self.size = size
            if self.origin is None:
                return
        if self.since is not None and event.at < self.since:
            return
        if self.origin is None:
            self._begin(event.at)
        assert self.origin is not None
        self._last = max(self._last, round(event.at - self.origin, 6))
        self.out.write(_event_line(self._last, event.kind, event.data))

    def _begin(self, at: float) -> None:
        self.origin = at
        self.out.write(_line(_header(*self.size, math.floor(at), self.title)))

    def finish(self) -> None:
        """Write the header if no event was kept (an empty range is still a playable file)."""
        if self.origin is None:
            self._begin(time.time())
        self.out.flush()


def _parse_size(text: str) -> tuple[int, int] | None:
    columns, _, rows = text.partition("x")
    if columns.isdigit() and rows.isdigit():
        return int(columns), int(rows)
    return None


async def follow_recording(path: Path, parser: CastParser) -> AsyncIterator[CastEvent]:
    """Events recorded after what `read_recording` read with `parser`, following rotation, until
    cancelled."""
    pending = b""
    async for chunk in follow_transcript(path, offset=parser.offset):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip() and (event := parser.parse(line.decode(errors="replace"), str(path))):
                yield event


class RecordedRange:
    """What `log --cast` and `log --since` print: the recording from `since` on, as one asciicast
    stream or as its output text (marker lines included, as in the transcript), then, following,
    what is recorded next."""

    def __init__(
        self, path: Path, out: IO[bytes], *, title: str, cast: bool, since: float | None = None
    ) -> None:
        self.path = path
        self.out = out
        self.cast = cast
        self.since = since
        self.parser = CastParser()
        self.writer = CastWriter(out, title=title, since=since)

    def _put(self, event: CastEvent) -> None:
        if self.cast:
            self.writer.add(event)
        elif event.kind == "o" and (self.since is None or event.at >= self.since):
            self.out.write(event.data.encode())

    def print_recorded(self) -> list[str]:
        """Print what is recorded; return notes on lines that could not be read."""
        for event in read_recording(self.path, self.parser):
            self._put(event)
        if self.cast:
            self.writer.finish()
        self.out.flush()
        return self.parser.skipped

    async def follow(self) -> None:
        """Print events as they are recorded, until cancelled."""
        async for event in follow_recording(self.path, self.parser):
            self._put(event)
            self.out.flush()


# -- time ranges ----------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(value: str, *, now: float | None = None) -> float:
    """`--since`: a duration back from now (30s, 10m, 2h, 1d) or an ISO time, as UNIX seconds.

    An ISO time without a zone is local time, as `date` prints it."""
    text = value.strip()
    if match := _DURATION.fullmatch(text.lower()):
        return (time.time() if now is None else now) - float(match[1]) * _UNIT[match[2]]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"cannot read the time {value!r}", where="--since", fix=f"give {SINCE_FORMS}"
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()
    return when.timestamp()

"""What console output may do to an operator's terminal, and which of its input is really typed.

A console is remote and may be hostile: its bytes must not set the operator's clipboard (OSC 52),
title or modes, nor ask the terminal questions whose answers would then be typed onto the console.
`TerminalFilter` is a small incremental VT tokenizer (sequences may be split across reads anyhow;
the result is the same) with two policies:

- "passthrough" (`attach`, `ssh ... NAME`): text, C0 layout controls, SGR, cursor movement, erase,
  scroll regions, insert/delete, the alternate screen, bracketed paste and cursor-key modes pass;
  every OSC/DCS/APC/PM/SOS string, query, report request, mouse or keyboard mode and title is
  dropped. `restore()` gives the bytes that undo what it let through (on detach).
- "text" (`log`, `send`): text, tab, newline, carriage return, backspace and SGR colours only.

Invalid UTF-8 becomes U+FFFD and C1 controls are dropped, so no 8-bit control reaches a terminal.
`ReplyFilter` drops a terminal's answers to queries (cursor and status reports, device attributes,
DECRQSS, XTGETTCAP, XTVERSION, colour, size and title reports) from the operator's input.
"""

from __future__ import annotations

import codecs
import enum
import re
from typing import Literal

Policy = Literal["passthrough", "text"]

ESC = 0x1B
CAN, SUB, BEL = 0x18, 0x1A, 0x07
CSI_MAX = 64
"""Bytes kept of one CSI sequence; a longer one is consumed and dropped."""

_TEXT_CONTROLS = {
    "passthrough": frozenset(b"\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"),
    "text": frozenset(b"\x08\x09\x0a\x0d"),
}
_SAFE_RUN = {
    "passthrough": re.compile(rb"(?:[\x07-\x0d\x20-\x7e]+|\x1b\[[0-9;]{0,32}[@A-MPXZ`adefgm])+"),
    "text": re.compile(rb"(?:[\x08-\x0a\x0d\x20-\x7e]+|\x1b\[[0-9;]{0,32}m)+"),
}
"""Runs that pass unchanged under each policy (ASCII text, layout controls, SGR and cursor moves
with plain numeric parameters): copied whole, without going through the tokenizer byte by byte,
which a flood of coloured lines is nearly all of."""
_PLAIN = re.compile(rb"[\x20-\x7e\x80-\xff]+")
_C1 = re.compile("[\x80-\x9f]")
_STRING_END = re.compile(rb"[\x07\x18\x1a\x1b]")
_CSI_BODY = re.compile(rb"[\x20-\x3f]*")

# CSI finals that pass with plain numeric parameters (no private marker, no intermediate).
_CSI_PLAIN = frozenset(b"@ABCDEFGHIJKLMPSTXZ`adefgm")
_ANSI_MODES = frozenset({4})  # IRM, insert mode
_DEC_MODES = frozenset({1, 6, 7, 12, 25, 47, 1047, 1048, 1049, 2004})
"""Cursor keys, origin, autowrap, cursor blink and visibility, alternate screen, bracketed paste."""
_ESC_FINALS = frozenset(b"78DEHM")  # save/restore cursor, index, next line, tab set, reverse index
_CHARSET_INTERMEDIATES = frozenset(b"()")


class _State(enum.Enum):
    GROUND = 0
    ESC = 1
    CSI = 2
    STRING = 3
    STRING_ESC = 4


class TerminalFilter:
    """Console bytes in, bytes safe for the operator's terminal out (see the module docstring)."""

    def __init__(self, policy: Policy = "passthrough") -> None:
        if policy not in _TEXT_CONTROLS:
            raise ValueError(f"unknown terminal filter policy {policy!r}")
        self.policy: Policy = policy
        self._controls = _TEXT_CONTROLS[policy]
        self._safe_run = _SAFE_RUN[policy]
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._state = _State.GROUND
        self._seq = bytearray()
        self._touched: set[str] = set()

    def reset(self) -> None:
        """Forget a sequence in progress: the stream starts again (a snapshot follows)."""
        self._state = _State.GROUND
        self._seq.clear()
        self._decoder.reset()

    def feed(self, data: bytes) -> bytes:
        """The part of `data` (with what earlier reads left unfinished) that may be shown."""
        out = bytearray()
        i, end = 0, len(data)
        while i < end:
            state = self._state
            if state is _State.GROUND:
                safe = self._safe_run.match(data, i)
                if safe and not self._decoder.getstate()[0]:  # no character half read
                    out += safe.group()
                    i = safe.end()
                    continue
                plain = _PLAIN.match(data, i)
                if plain:
                    self._text(plain.group(), out)
                    i = plain.end()
                    continue
                self._flush_text(out)
                byte = data[i]
                i += 1
                if byte == ESC:
                    self._state = _State.ESC
                    self._seq[:] = b"\x1b"
                elif byte in self._controls:
                    out.append(byte)
                    if byte in (0x0E, 0x0F):
                        self._touched.add("charset")
                continue
            if state is _State.STRING:
                stop = _STRING_END.search(data, i)
                if stop is None:
                    return bytes(out)
                i = stop.end()
                byte = data[stop.start()]
                self._state = _State.STRING_ESC if byte == ESC else _State.GROUND
                continue
            byte = data[i]
            i += 1
            if state is _State.STRING_ESC:
                # ESC \ ends the string; ESC and anything else starts a new sequence.
                self._state = _State.GROUND
                if byte != 0x5C:
                    self._seq[:] = b"\x1b"
                    self._state = _State.ESC
                    i -= 1
                continue
            if byte < 0x20:
                self._control_in_sequence(byte, out)
                continue
            if state is _State.ESC:
                self._esc_byte(byte, out)
            else:
                if len(self._seq) < CSI_MAX:
                    body = _CSI_BODY.match(data, i - 1, i - 1 + CSI_MAX - len(self._seq))
                    assert body is not None
                    self._seq += body.group()
                    i = body.end()
                    if i >= end:
                        continue
                    byte = data[i]
                    i += 1
                    if byte < 0x20:
                        self._control_in_sequence(byte, out)
                        continue
                if 0x40 <= byte <= 0x7E:
                    self._csi(bytes(self._seq), byte, out)
                    self._state = _State.GROUND
                elif byte > 0x7F:
                    self._state = _State.GROUND
        return bytes(out)

    def _text(self, raw: bytes, out: bytearray) -> None:
        text = self._decoder.decode(raw)
        out += _C1.sub("", text).encode()

    def _flush_text(self, out: bytearray) -> None:
        """A control interrupts a multibyte character: what was pending is invalid."""
        tail = self._decoder.decode(b"", final=True)
        if tail:
            out += _C1.sub("", tail).encode()

    def _control_in_sequence(self, byte: int, out: bytearray) -> None:
        """C0 inside an escape sequence: CAN/SUB cancel it, ESC restarts it, others act as in ground."""
        if byte == ESC:
            self._seq[:] = b"\x1b"
            self._state = _State.ESC
        elif byte in (CAN, SUB):
            self._state = _State.GROUND
        elif byte in self._controls:
            out.append(byte)

    def _esc_byte(self, byte: int, out: bytearray) -> None:
        seq = self._seq
        if len(seq) == 1:
            if byte == 0x5B:  # [
                self._state = _State.CSI
                seq.append(byte)
                return
            if byte in b"]PX^_":  # OSC, DCS, SOS, PM, APC: a string, dropped whole
                self._state = _State.STRING
                return
        if 0x20 <= byte <= 0x2F:
            if len(seq) < 4:
                seq.append(byte)
            return
        self._state = _State.GROUND
        if byte > 0x7E or self.policy != "passthrough":
            return
        if len(seq) == 1 and byte in _ESC_FINALS:
            out += bytes((ESC, byte))
        elif len(seq) == 2 and seq[1] in _CHARSET_INTERMEDIATES and byte in b"0AB":
            out += bytes((ESC, seq[1], byte))
            self._touched.add("charset")

    def _csi(self, seq: bytes, final: int, out: bytearray) -> None:
        if len(seq) >= CSI_MAX:
            return
        body = seq[2:]
        if final == 0x6D and re.fullmatch(rb"[0-9;:]*", body):
            out += seq + b"m"
            return
        if self.policy != "passthrough":
            return
        if re.fullmatch(rb"[0-9;]*", body):
            if final in _CSI_PLAIN and (final not in b"ST" or body.count(b";") == 0):
                out += seq + bytes((final,))
            elif final == 0x72:  # r: scroll region
                out += seq + b"r"
                self._touched.add("scroll")
            elif final in b"hl":
                self._modes(body, b"", _ANSI_MODES, final, out)
            elif final in b"su" and not body:
                out += seq + bytes((final,))
        elif body[:1] == b"?" and re.fullmatch(rb"[0-9;]*", body[1:]) and final in b"hl":
            self._modes(body[1:], b"?", _DEC_MODES, final, out)

    def _modes(
        self, params: bytes, marker: bytes, allowed: frozenset[int], final: int, out: bytearray
    ) -> None:
        kept = [p for p in params.split(b";") if p.isdigit() and int(p) in allowed]
        if not kept:
            return
        for p in kept:
            self._touched.add(marker.decode() + str(int(p)))
        out += b"\x1b[" + marker + b";".join(kept) + bytes((final,))

    def restore(self) -> bytes:
        """Bytes that put the operator's terminal back as it was before: leave the alternate
        screen, show the cursor, reset the scroll region, SGR 0, undo every mode let through."""
        if self.policy != "passthrough":
            return b"\x1b[0m"
        touched = self._touched
        parts = [b"\x1b[0m"]
        if "scroll" in touched:
            parts.append(b"\x1b7\x1b[r\x1b8")
        for mode in ("?1049", "?1047", "?47"):
            if mode in touched:
                parts.append(b"\x1b[" + mode.encode() + b"l")
        if "charset" in touched:
            parts.append(b"\x1b(B\x1b)B\x0f")
        for mode, reset in (("4", b"4l"), ("?1", b"?1l"), ("?6", b"?6l"), ("?7", b"?7h")):
            if mode in touched:
                parts.append(b"\x1b[" + reset)
        if "?2004" in touched:
            parts.append(b"\x1b[?2004l")
        parts.append(b"\x1b[?25h")
        return b"".join(parts)


# -- the operator's input -------------------------------------------------------------------

_REPLY = re.compile(
    rb"""\x1b(?:
      \[ (?: \??[0-9;]*R                 # cursor position report (CPR, DECXCPR)
           | [?>=][0-9;]*c               # device attributes (DA1, DA2, DA3)
           | \??[0-9;]*n                 # status reports (DSR)
           | [0-9;]*t                    # window size and state reports
           | \??[0-9;]*\$y               # mode reports (DECRPM)
           | \?[0-9;]*u                  # keyboard protocol flags
           | <[0-9;]*[Mm]                # SGR mouse reports
           | [IO] )                      # focus in / out
      | P (?: [01][$+]r | [>!]\| ) [\x20-\x7e]* (?:\x1b\\|\x07)   # DECRQSS, XTGETTCAP, XTVERSION, DA3
      | \] (?: [0-9]+;|[lL] ) [^\x00-\x1f]* (?:\x1b\\|\x07)  # OSC colours, titles
    )""",
    re.VERBOSE,
)
_REPLY_PREFIX = re.compile(
    rb"""\x1b(?:
      \[ [?>=<]? [0-9;]* \$?
      | P (?: [01][$+]? | [01][$+]r[\x20-\x7e]* | [>!] | [>!]\|[\x20-\x7e]* )? \x1b?
      | \] (?: [0-9]+ | [0-9]+;[^\x00-\x1f]* | [lL][^\x00-\x1f]* )? \x1b?
    )\Z""",
    re.VERBOSE,
)
REPLY_MAX = 4096
"""Bytes of a possible answer held back while it is incomplete; past that it counts as typed."""


class ReplyFilter:
    """Drops a terminal's answers to queries from the operator's keystrokes, across reads.

    A key arrives whole in one read; an answer may be split. So an incomplete answer is held
    until the next read decides, except a lone ESC or ESC plus one byte (the Esc key, Alt+key)."""

    def __init__(self) -> None:
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        data = self._held + data
        self._held = b""
        out = bytearray()
        i = 0
        while True:
            start = data.find(b"\x1b", i)
            if start < 0:
                out += data[i:]
                return bytes(out)
            out += data[i:start]
            reply = _REPLY.match(data, start)
            if reply:
                i = reply.end()
                continue
            tail = data[start:]
            if len(tail) > 2 and len(tail) <= REPLY_MAX and _REPLY_PREFIX.match(tail):
                self._held = tail
                return bytes(out)
            out.append(ESC)
            i = start + 1

"""Telnet framing (RFC 854) for `telnet://` and `unix://...?telnet=1`: a stateful codec, no I/O.

The console needs only a clean byte stream and a BREAK, so the codec accepts the few options a
console server offers (QEMU's `telnet=on` opens with WILL ECHO, WILL SGA, WILL/DO BINARY), refuses
every other one, and strips all commands and subnegotiation from the data, even when a sequence is
split across reads.
"""

from __future__ import annotations

import re
from enum import Enum, auto

IAC = 0xFF
DONT = 0xFE
DO = 0xFD
WONT = 0xFC
WILL = 0xFB
SB = 0xFA
BRK = 0xF3
SE = 0xF0

BINARY = 0x00
ECHO = 0x01
SGA = 0x03

CR = 0x0D
LF = 0x0A
NUL = 0x00

# IAC BRK, sent raw: the telnet BREAK that QEMU and console servers turn into a line break.
BREAK = bytes((IAC, BRK))

_BARE_CR = re.compile(rb"\r(?!\n)")

# Options we let the server turn on at its end (it sends WILL, we answer DO).
THEIR_OPTIONS = frozenset({ECHO, SGA, BINARY})
SB_MAX = 4096
"""Bytes of a kept subnegotiation's payload held at most: a peer cannot make us hold more."""
# Options we turn on at our end when asked (it sends DO, we answer WILL).
OUR_OPTIONS = frozenset({SGA, BINARY})


# Where a plain run (data, doubled 0xFF and 2-byte commands such as NOP, GA, DM) may end: at an IAC
# that starts an option request or subnegotiation, or that the read cut off. It does end there
# unless that 0xFF is the second half of a doubled 0xFF (see `_plain_end`).
_RUN_END = re.compile(rb"\xff(?:[\xfa-\xfe]|\Z)")
_RUN_ENDS = tuple(bytes((0xFF, verb)) for verb in (0xFA, 0xFB, 0xFC, 0xFD, 0xFE))
# Inside such a run: IAC IAC is a data 0xFF, any other 2-byte command is dropped, and outside
# binary mode a CR NUL is a CR. Left to right, so `IAC CR NUL` drops IAC CR and keeps the NUL.
# (Used for runs that mix doubled 0xFF and commands; `_unescape` does the usual runs faster.)
_UNESCAPE_BINARY = re.compile(rb"\xff(?:(\xff)|[^\xfa-\xfe])")
_UNESCAPE_TEXT = re.compile(rb"\xff(?:(\xff)|[^\xfa-\xfe])|(\r)\x00")
# A subnegotiation's payload (0xFF doubled in it) up to and including IAC SE, if the read has it.
_SUBNEGOTIATION = re.compile(rb"(?:[^\xff]++|\xff[^\xf0])*+(\xff\xf0)?")
# One option request and its repeats: they are answered all at once.
_SAME_REQUESTS = re.compile(rb"(\xff[\xfb-\xfe].)(?:\1)*+", re.DOTALL)


class _State(Enum):
    DATA = auto()
    CR = auto()  # the read ended with a data CR: a NUL starting the next one is padding
    SB = auto()  # inside a subnegotiation, whose payload is dropped as it comes
    SB_IAC = auto()  # inside a subnegotiation, after an IAC


class TelnetCodec:
    """Decode what a telnet server sends into console bytes and our answers; encode our bytes.

    Outside binary mode (RFC 856) a CR travels as CR NUL or CR LF, so the NUL is dropped on receive
    and added on send; in binary mode, which QEMU asks for, bytes pass as they are.

    Decoding works on whole runs with `re` and `bytes` methods, never byte by byte in Python: only
    option requests are handled one at a time, as each needs its answer. What a read cuts off is
    kept to at most two bytes (IAC and a verb); a subnegotiation's payload is never kept.
    """

    def __init__(
        self,
        *,
        their_options: frozenset[int] = THEIR_OPTIONS,
        our_options: frozenset[int] = OUR_OPTIONS,
        keep: frozenset[int] = frozenset(),
    ) -> None:
        self._state = _State.DATA
        self._partial = b""  # IAC, or IAC and a verb, that ended the last read
        self.theirs: set[int] = set()  # options on at the server's end
        self.ours: set[int] = set()  # options on at our end
        self._their_options = their_options
        self._keep = keep
        """Options whose subnegotiations are kept (vSPC's 232), not dropped: see `messages`."""
        self._sb: bytearray | None = None  # the escaped payload of a kept subnegotiation so far
        self.messages: list[tuple[int, bytes]] = []
        """Kept subnegotiations, (option, payload with 0xFF undoubled), in arrival order; the
        caller takes them after each `decode`."""
        self._our_options = our_options
        self._offered: set[int] = set()  # our WILL sent, the server's answer not yet heard
        self.answered: set[int] = set()
        """Options the server said DO or DONT to: whether it heard of them at all."""

    def offer(self, option: int) -> bytes:
        """IAC WILL `option`, to send: our end offers it; the server's DO then needs no answer."""
        self.ours.add(option)
        self._offered.add(option)
        return bytes((IAC, WILL, option))

    def decode(self, raw: bytes) -> tuple[bytes, bytes]:
        """Return (console data, negotiation answers to send back) for bytes from the server."""
        if self._partial:
            raw, self._partial = self._partial + raw, b""
        data: list[bytes] = []
        answers = bytearray()
        state = self._state
        at, size = 0, len(raw)
        # Most reads hold no option request or subnegotiation at all: one plain run.
        plain = IAC not in raw or (
            not raw.endswith(b"\xff") and not any(end in raw for end in _RUN_ENDS)
        )
        while at < size:
            if state is _State.SB_IAC:
                state = _State.DATA if raw[at] == SE else _State.SB
                if self._keep:
                    self._collect(b"" if state is _State.DATA else bytes((IAC, raw[at])), state)
                at += 1
                continue
            if state is _State.SB:
                match = _SUBNEGOTIATION.match(raw, at)
                assert match is not None  # it matches the empty string too
                if match.group(1):
                    state, end = _State.DATA, match.end()
                    if self._keep:
                        self._collect(raw[at : end - 2], state)
                    at = end
                else:  # the read ended inside it; on a lone IAC that may start IAC SE
                    state = _State.SB_IAC if match.end() < size else _State.SB
                    if self._keep:
                        self._collect(raw[at : match.end()], state)
                    at = size
                continue
            binary = BINARY in self.theirs
            if state is _State.CR:
                state = _State.DATA
                if raw[at] == NUL and not binary:
                    at += 1
                    continue
            end = size if plain else _plain_end(raw, at)
            if end > at:
                if not binary and end == size and _ends_with_data_cr(raw, at, end):
                    state = _State.CR
                data.append(_unescape(raw[at:end], binary))
                at = end
                if at == size:
                    break
            # raw[at] is an IAC that starts an option request or a subnegotiation, or ends the read.
            if at + 1 < size and raw[at + 1] == SB:
                state, at = _State.SB, at + 2
                if self._keep:
                    self._sb = bytearray()
            elif at + 2 < size:
                # After the first of identical requests the options no longer change, so the
                # second's answer is every later one's.
                requests = _SAME_REQUESTS.match(raw, at)
                assert requests is not None  # raw[at:at + 3] is one
                verb, option, count = raw[at + 1], raw[at + 2], (requests.end() - at) // 3
                answers += self._answer(verb, option)
                if count > 1:
                    answers += self._answer(verb, option) * (count - 1)
                at = requests.end()
            else:
                self._partial = raw[at:]
                break
        self._state = state
        return b"".join(data), bytes(answers)

    def _collect(self, payload: bytes, state: _State) -> None:
        """Add escaped payload to a kept subnegotiation; at its end (state DATA), keep it as a
        message when its option is one to keep. A payload is kept to at most `SB_MAX` bytes."""
        if self._sb is None:
            return
        if len(self._sb) < SB_MAX:
            self._sb += payload[: SB_MAX - len(self._sb)]
        if state is _State.DATA:
            body = bytes(self._sb).replace(b"\xff\xff", b"\xff")
            self._sb = None
            if body and body[0] in self._keep:
                self.messages.append((body[0], body[1:]))

    def _answer(self, verb: int, option: int) -> bytes:
        """The minimal RFC 854 answer: agree to the options above, refuse the rest, never loop."""
        if verb in (WILL, WONT):  # about the server's end
            enabled, wanted, yes, no = self.theirs, self._their_options, DO, DONT
        else:  # DO, DONT: about our end
            enabled, wanted, yes, no = self.ours, self._our_options, WILL, WONT
            self.answered.add(option)
            if option in self._offered:  # the answer to our offer: agreed, or refused
                self._offered.discard(option)
                if verb == DONT:
                    enabled.discard(option)
                return b""
        if verb in (WILL, DO):
            if option in enabled:  # already on: answering again would start a loop
                return b""
            if option in wanted:
                enabled.add(option)
                return bytes((IAC, yes, option))
            return bytes((IAC, no, option))
        if option in enabled:  # WONT, DONT: a request to turn off is always agreed
            enabled.discard(option)
            return bytes((IAC, no, option))
        return b""

    def encode(self, data: bytes) -> bytes:
        """Double every 0xFF; outside binary mode a bare CR goes as CR NUL (RFC 854)."""
        out = data.replace(b"\xff", b"\xff\xff")
        if BINARY in self.ours:
            return out
        return _BARE_CR.sub(b"\r\x00", out)


def _plain_end(raw: bytes, at: int) -> int:
    """The end of the plain run that starts at `at`, a token boundary: the first IAC that starts
    an option request or subnegotiation or that the read cut off, else the end of `raw`.

    A 0xFF found there is such an IAC when an even number of 0xFF stand right before it: doubled
    ones. With an odd number, it is the second half of a doubled 0xFF and the run goes on."""
    boundary = at
    while (found := _RUN_END.search(raw, boundary)) is not None:
        start = found.start()
        before = raw[boundary:start]
        if (len(before) - len(before.rstrip(b"\xff"))) % 2 == 0:
            return start
        boundary = start + 1
    return len(raw)


def _unescape(run: bytes, binary: bool) -> bytes:
    """The console data of a plain run: doubled 0xFF undone, 2-byte commands dropped, and outside
    binary mode CR NUL made CR. Runs of only data, only commands or only doubled 0xFF take a few
    `bytes.replace` passes; a run mixing doubled 0xFF and commands, one regex pass."""
    if IAC in run:
        doubled = run.count(b"\xff\xff")
        if not doubled and (binary or b"\xff\r" not in run):
            # Each IAC starts a command; a data CR NUL has nothing between CR and NUL.
            return _drop_commands(run if binary else run.replace(b"\r\x00", b"\r"))
        if 2 * doubled != run.count(IAC):  # doubled 0xFF and commands
            if binary:
                return _UNESCAPE_BINARY.sub(rb"\1", run)
            return _UNESCAPE_TEXT.sub(rb"\1\2", run)
        run = run.replace(b"\xff\xff", b"\xff")
    return run if binary else run.replace(b"\r\x00", b"\r")


def _drop_commands(run: bytes) -> bytes:
    """Drop every `IAC X` from a run where each IAC starts a 2-byte command, one pass per kind of
    command (removing one never makes another: no byte left next to an IAC is an IAC)."""
    while (at := run.find(b"\xff")) >= 0:
        run = run.replace(run[at : at + 2], b"")
    return run


def _ends_with_data_cr(raw: bytes, start: int, end: int) -> bool:
    """Whether the plain run raw[start:end] ends with a data CR, not the CR of an `IAC CR` command:
    that is, when an even number of 0xFF bytes stand right before it."""
    if raw[end - 1] != CR:
        return False
    before = raw[start : end - 1]
    return (len(before) - len(before.rstrip(b"\xff"))) % 2 == 0

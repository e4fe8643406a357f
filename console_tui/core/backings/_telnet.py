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
# Options we turn on at our end when asked (it sends DO, we answer WILL).
OUR_OPTIONS = frozenset({SGA, BINARY})


class _State(Enum):
    DATA = auto()
    CR = auto()  # a CR just went by: a NUL after it is padding
    IAC = auto()
    OPTION = auto()  # after IAC WILL/WONT/DO/DONT, waiting for the option byte
    SB = auto()
    SB_IAC = auto()


class TelnetCodec:
    """Decode what a telnet server sends into console bytes and our answers; encode our bytes.

    Outside binary mode (RFC 856) a CR travels as CR NUL or CR LF, so the NUL is dropped on receive
    and added on send; in binary mode, which QEMU asks for, bytes pass as they are.
    """

    def __init__(self) -> None:
        self._state = _State.DATA
        self._verb = 0
        self.theirs: set[int] = set()  # options on at the server's end
        self.ours: set[int] = set()  # options on at our end

    def decode(self, raw: bytes) -> tuple[bytes, bytes]:
        """Return (console data, negotiation answers to send back) for bytes from the server."""
        data = bytearray()
        answers = bytearray()
        state = self._state
        for byte in raw:
            if state is _State.DATA or state is _State.CR:
                if byte == IAC:
                    state = _State.IAC
                elif state is _State.CR and byte == NUL and BINARY not in self.theirs:
                    state = _State.DATA
                else:
                    data.append(byte)
                    state = _State.CR if byte == CR else _State.DATA
            elif state is _State.IAC:
                if byte == IAC:
                    data.append(IAC)
                    state = _State.DATA
                elif byte in (WILL, WONT, DO, DONT):
                    self._verb = byte
                    state = _State.OPTION
                elif byte == SB:
                    state = _State.SB
                else:
                    state = _State.DATA  # NOP, GA, DM, AYT...: nothing for a console
            elif state is _State.OPTION:
                answers += self._answer(self._verb, byte)
                state = _State.DATA
            elif state is _State.SB:
                if byte == IAC:
                    state = _State.SB_IAC
            else:  # SB_IAC
                state = _State.DATA if byte == SE else _State.SB
        self._state = state
        return bytes(data), bytes(answers)

    def _answer(self, verb: int, option: int) -> bytes:
        """The minimal RFC 854 answer: agree to the options above, refuse the rest, never loop."""
        if verb in (WILL, WONT):  # about the server's end
            enabled, wanted, yes, no = self.theirs, THEIR_OPTIONS, DO, DONT
        else:  # DO, DONT: about our end
            enabled, wanted, yes, no = self.ours, OUR_OPTIONS, WILL, WONT
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

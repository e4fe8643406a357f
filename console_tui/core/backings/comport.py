"""RFC 2217 COM-PORT-OPTION (telnet option 44): line settings, their commands and the server's
replies, no I/O (`rfc2217.py` speaks them on a telnet connection); and `SettableLine`, what the
Hub, the status and the app ask of a backing whose line can be set from here.

A client command is `IAC SB 44 <cmd> <value> IAC SE`; the server answers with cmd + 100 and the
value it now uses, which is what the status shows as confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from console_tui.core.backings._telnet import IAC, SB, SE

COM_PORT = 44

SET_BAUDRATE = 1
SET_DATASIZE = 2
SET_PARITY = 3
SET_STOPSIZE = 4
SET_CONTROL = 5
SERVER_OFFSET = 100
"""A server's reply to command N is command N + 100."""

CONTROL_BREAK_ON = 5
CONTROL_BREAK_OFF = 6

PARITY = {"none": 1, "odd": 2, "even": 3, "mark": 4, "space": 5}
PARITY_LETTER = {1: "N", 2: "O", 3: "E", 4: "M", 5: "S"}
STOP = {"1": 1, "2": 2, "1.5": 3}
STOP_WORDS = {1: "1", 2: "2", 3: "1.5"}
FLOW = {"none": 1, "xonxoff": 2, "rtscts": 3}
FLOW_WORDS = {1: "no flow control", 2: "XON/XOFF", 3: "RTS/CTS"}
DATA_SIZES = (5, 6, 7, 8)

COMMON_BAUDS = (
    300,
    1200,
    2400,
    4800,
    9600,
    19200,
    38400,
    57600,
    115200,
    230400,
    460800,
    921600,
)
"""The rates offered in the app's baud dialog; any positive rate works from the CLI."""


class LineError(ValueError):
    """A line setting that cannot be: what is wrong and the fix."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


@dataclass(frozen=True)
class LineSettings:
    """The serial line a terminal server should set: rate, data bits, parity, stop bits, flow."""

    baud: int = 115200
    data: int = 8
    parity: int = PARITY["none"]
    stop: int = STOP["1"]
    flow: int = FLOW["none"]

    def describe(self) -> str:
        """`9600 8N1, no flow control`: how operators write a line."""
        line = f"{self.baud} {self.data}{PARITY_LETTER[self.parity]}{STOP_WORDS[self.stop]}"
        return f"{line}, {FLOW_WORDS[self.flow]}"

    def commands(self) -> bytes:
        """The subnegotiations that set every part of the line."""
        return b"".join(
            command(cmd, value)
            for cmd, value in (
                (SET_BAUDRATE, self.baud.to_bytes(4, "big")),
                (SET_DATASIZE, bytes((self.data,))),
                (SET_PARITY, bytes((self.parity,))),
                (SET_STOPSIZE, bytes((self.stop,))),
                (SET_CONTROL, bytes((self.flow,))),
            )
        )

    def with_reply(self, cmd: int, value: bytes) -> LineSettings:
        """These settings with one the server reported (a reply's cmd already less 100)."""
        if cmd == SET_BAUDRATE and len(value) == 4 and int.from_bytes(value, "big"):
            return replace(self, baud=int.from_bytes(value, "big"))
        if len(value) != 1:
            return self
        byte = value[0]
        if cmd == SET_DATASIZE and byte in DATA_SIZES:
            return replace(self, data=byte)
        if cmd == SET_PARITY and byte in PARITY_LETTER:
            return replace(self, parity=byte)
        if cmd == SET_STOPSIZE and byte in STOP_WORDS:
            return replace(self, stop=byte)
        if cmd == SET_CONTROL and byte in FLOW_WORDS:
            return replace(self, flow=byte)
        return self


def command(cmd: int, value: bytes) -> bytes:
    """`IAC SB 44 cmd value IAC SE`, with 0xFF doubled in the value."""
    escaped = value.replace(b"\xff", b"\xff\xff")
    return bytes((IAC, SB, COM_PORT, cmd)) + escaped + bytes((IAC, SE))


def check_baud(baud: int) -> int:
    """A rate a server can be asked for: a positive number that fits RFC 2217's 4 bytes."""
    if not 0 < baud < 1 << 32:
        raise LineError(f"baud {baud} is not a rate", fix="e.g. 9600 or 115200")
    return baud


def line_from_params(params: dict[str, str], baud: int = 115200) -> LineSettings:
    """The line an `rfc2217://host:port?baud=&data=&parity=&stop=&flow=` URI asks for; `baud`
    (the target's) when the URI names none. Raise `LineError` saying which part is wrong."""
    known = {"baud", "data", "parity", "stop", "flow"}
    for name in params:
        if name not in known:
            raise LineError(
                f"unknown setting {name!r}", fix=f"use {', '.join(sorted(known))} (e.g. ?baud=9600)"
            )
    text = params.get("baud", str(baud))
    if not text.isdigit():
        raise LineError(f"baud {text!r} is not a positive number", fix="e.g. ?baud=115200")
    settings = LineSettings(baud=check_baud(int(text)))
    data = params.get("data", "8")
    if data not in {str(size) for size in DATA_SIZES}:
        raise LineError(f"data {data!r} is not 5, 6, 7 or 8 bits", fix="e.g. ?data=8")
    parity = params.get("parity", "none").lower()
    if parity not in PARITY:
        raise LineError(f"parity {parity!r} is unknown", fix=f"use one of {', '.join(PARITY)}")
    stop = params.get("stop", "1")
    if stop not in STOP:
        raise LineError(f"stop {stop!r} is not 1, 1.5 or 2 bits", fix="e.g. ?stop=1")
    flow = params.get("flow", "none").lower()
    if flow not in FLOW:
        raise LineError(f"flow {flow!r} is unknown", fix=f"use one of {', '.join(FLOW)}")
    return replace(
        settings, data=int(data), parity=PARITY[parity], stop=STOP[stop], flow=FLOW[flow]
    )


@runtime_checkable
class SettableLine(Protocol):
    """A backing whose far serial port's line can be set from here (`rfc2217://`)."""

    baud: int
    wait_for_port: bool

    @property
    def line(self) -> str:
        """The line settings in words, or why there are none; empty before it connects."""
        ...

    @property
    def baud_reason(self) -> str:
        """Why the baud rate cannot be changed now; empty when it can."""
        ...

    async def set_baud(self, baud: int) -> str:
        """Change the baud rate; the line in words after."""
        ...


def baud_refusal(backing: object, scheme: str) -> str:
    """Why the baud rate of this line cannot be changed from here; empty when it can."""
    if backing is None:
        return "the line is not connected yet"
    if not isinstance(backing, SettableLine):
        return (
            f"a {scheme}:// line has no baud rate to set from here; "
            "a terminal server's port as rfc2217://host:port has"
        )
    return backing.baud_reason

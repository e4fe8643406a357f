"""VMware's virtual serial port concentrator extension to telnet (option 232, VMWARE-TELNET-EXT).

Only the wire format lives here, no I/O: the command codes, framing a message, and reading a VM's
UUID. Every message is `IAC SB 232 <command> <payload> IAC SE`, 0xFF doubled in the payload; what
each command means to a concentrator is core/listener.py's.
"""

from __future__ import annotations

import re

from console_tui.core.backings._telnet import IAC, SB, SE

VMWARE_EXT = 232

KNOWN_SUBOPTIONS_1 = 0
KNOWN_SUBOPTIONS_2 = 1
UNKNOWN_SUBOPTION_RCVD_1 = 2
UNKNOWN_SUBOPTION_RCVD_2 = 3
VMOTION_BEGIN = 40
VMOTION_GOAHEAD = 41
VMOTION_NOTNOW = 43
VMOTION_PEER = 44
VMOTION_PEER_OK = 45
VMOTION_COMPLETE = 46
VMOTION_ABORT = 48
DO_PROXY = 70
WILL_PROXY = 71
WONT_PROXY = 73
VM_VC_UUID = 80
GET_VM_VC_UUID = 81
VM_NAME = 82
GET_VM_NAME = 83

SUPPORTED = bytes(
    (
        KNOWN_SUBOPTIONS_1,
        KNOWN_SUBOPTIONS_2,
        UNKNOWN_SUBOPTION_RCVD_1,
        UNKNOWN_SUBOPTION_RCVD_2,
        VMOTION_BEGIN,
        VMOTION_GOAHEAD,
        VMOTION_NOTNOW,
        VMOTION_PEER,
        VMOTION_PEER_OK,
        VMOTION_COMPLETE,
        VMOTION_ABORT,
        DO_PROXY,
        WILL_PROXY,
        WONT_PROXY,
        VM_VC_UUID,
        GET_VM_VC_UUID,
        VM_NAME,
        GET_VM_NAME,
    )
)
"""The commands this concentrator knows, sent in KNOWN-SUBOPTIONS-2."""

ANSWER_WITHIN = 5.0
"""Seconds a VM waits for the answer to VMOTION-BEGIN before it gives up on the vMotion."""

SECRET_BYTES = 16

_NOT_HEX = re.compile(r"[^0-9a-f]")


def message(command: int, payload: bytes = b"") -> bytes:
    """One extension message on the wire, 0xFF in the payload doubled."""
    body = bytes((command,)) + payload
    return bytes((IAC, SB, VMWARE_EXT)) + body.replace(b"\xff", b"\xff\xff") + bytes((IAC, SE))


def uuid_hex(payload: bytes) -> str:
    """A VM's UUID as its 32 hex digits, lower case: VMware writes it with spaces and dashes."""
    return _NOT_HEX.sub("", payload.decode("ascii", errors="replace").lower())


def printable(payload: bytes, limit: int = 128) -> str:
    """A VM name (or URI) from the wire, cut to `limit` characters, unprintables as `?`."""
    text = payload[:limit].decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() else "?" for c in text)

"""A VM's end of VMware's virtual serial port concentrator (vSPC) protocol, for tests.

A vSphere VM with a network serial port that "uses a virtual serial port concentrator" dials the
concentrator and speaks telnet with VMware's extension, option 232. No ESXi host can run here, so
this player stands in for one; it is written from the protocol facts alone (the VMware document
"Using a Proxy with Virtual Serial Ports" as summed up in the project's protocol notes), with its
own telnet parser, sharing no code with the concentrator it tests.
"""

from __future__ import annotations

import asyncio
import contextlib

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
EXT = 232
KNOWN_SUBOPTIONS_1, KNOWN_SUBOPTIONS_2 = 0, 1
UNKNOWN_SUBOPTION_RCVD_1, UNKNOWN_SUBOPTION_RCVD_2 = 2, 3
VMOTION_BEGIN, VMOTION_GOAHEAD, VMOTION_NOTNOW = 40, 41, 43
VMOTION_PEER, VMOTION_PEER_OK, VMOTION_COMPLETE, VMOTION_ABORT = 44, 45, 46, 48
DO_PROXY, WILL_PROXY, WONT_PROXY = 70, 71, 73
VM_VC_UUID, GET_VM_VC_UUID, VM_NAME, GET_VM_NAME = 80, 81, 82, 83


def vmware(command: int, payload: bytes = b"") -> bytes:
    """IAC SB 232 command payload IAC SE, with 0xFF doubled inside."""
    body = bytes((command,)) + payload
    return bytes((IAC, SB, EXT)) + body.replace(b"\xff", b"\xff\xff") + bytes((IAC, SE))


class VspcVM:
    """One connection of a VM to the concentrator: it negotiates, tells its name and UUID when
    asked, and records the console bytes and extension messages it gets."""

    def __init__(self, name: str, uuid: str, host: str, port: int) -> None:
        self.name = name
        self.uuid = uuid  # as VMware writes it: "42 1d 3c 5a ... -..."
        self.host = host
        self.port = port
        self.received = bytearray()
        self.commands: list[tuple[int, int]] = []  # (verb, option) the concentrator sent
        self.messages: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self.closed = asyncio.Event()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self, *, known: bool = True) -> None:
        """Dial in and open the way a VM does: WILL 232 (and WILL 44), KNOWN-SUBOPTIONS-1 and
        DO-PROXY as a client port."""
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._task = asyncio.get_running_loop().create_task(self._read())
        opening = bytes((IAC, WILL, EXT, IAC, WILL, 44))
        if known:
            opening += vmware(KNOWN_SUBOPTIONS_1, bytes(range(0, 4)) + bytes((40, 41, 43, 44, 45)))
            opening += vmware(DO_PROXY, b"Ctelnet://vspc.example:13370")
        self._writer.write(opening)
        await self._writer.drain()

    async def send(self, data: bytes) -> None:
        """Console output of the VM (0xFF doubled, as telnet wants)."""
        await self.raw(data.replace(b"\xff", b"\xff\xff"))

    async def message(self, command: int, payload: bytes = b"") -> None:
        await self.raw(vmware(command, payload))

    async def raw(self, wire: bytes) -> None:
        assert self._writer is not None
        self._writer.write(wire)
        await self._writer.drain()

    async def expect(self, command: int, timeout: float = 5.0) -> bytes:
        """The payload of the next extension message `command`, skipping others."""
        async with asyncio.timeout(timeout):
            while True:
                got, payload = await self.messages.get()
                if got == command:
                    return payload

    async def received_until(self, needle: bytes, timeout: float = 5.0) -> bytes:
        async with asyncio.timeout(timeout):
            while needle not in self.received:
                await asyncio.sleep(0.02)
        return bytes(self.received)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _read(self) -> None:
        """A byte-at-a-time telnet parser: data, option commands and subnegotiations."""
        assert self._reader is not None
        state, verb, sub = "data", 0, bytearray()
        try:
            while chunk := await self._reader.read(4096):
                for byte in chunk:
                    if state == "data":
                        if byte == IAC:
                            state = "iac"
                        else:
                            self.received.append(byte)
                    elif state == "iac":
                        if byte == IAC:
                            self.received.append(IAC)
                            state = "data"
                        elif byte in (WILL, WONT, DO, DONT):
                            verb, state = byte, "option"
                        elif byte == SB:
                            sub, state = bytearray(), "sb"
                        else:
                            self.commands.append((byte, -1))
                            state = "data"
                    elif state == "option":
                        self.commands.append((verb, byte))
                        state = "data"
                    elif state == "sb":
                        if byte == IAC:
                            state = "sb-iac"
                        else:
                            sub.append(byte)
                    elif state == "sb-iac":
                        if byte == SE:
                            self._subnegotiation(bytes(sub))
                            state = "data"
                        else:
                            sub.append(byte)  # IAC IAC: one 0xFF
                            state = "sb"
        except OSError:
            pass
        finally:
            self.closed.set()

    def _subnegotiation(self, sub: bytes) -> None:
        if len(sub) < 2 or sub[0] != EXT:
            return
        command, payload = sub[1], sub[2:]
        self.messages.put_nowait((command, payload))
        if command == GET_VM_VC_UUID:
            asyncio.get_running_loop().create_task(self.message(VM_VC_UUID, self.uuid.encode()))
        elif command == GET_VM_NAME:
            asyncio.get_running_loop().create_task(self.message(VM_NAME, self.name.encode()))

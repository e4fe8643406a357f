"""How fast the telnet codec turns what a telnet console sends into console bytes, in MB/s.

Inputs, fed in the 4 KB reads a backing makes: console output with no telnet commands (the usual
case, in binary mode as QEMU asks and outside it, where CR NUL is undone); binary data whose 0xFF
bytes come doubled; a flood of 2-byte commands (IAC NOP); and a flood of option requests.

"before" is the same decoding done byte by byte in Python, as the codec once did; "after" is the
codec.
"""

from __future__ import annotations

import random
import statistics
import time
from enum import Enum, auto

from bench.screen_throughput import console_mix
from console_tui.core.backings._telnet import (
    BINARY,
    CR,
    DO,
    DONT,
    IAC,
    NUL,
    SB,
    SE,
    WILL,
    WONT,
    TelnetCodec,
)

READ_SIZE = 4096
SIZE = 4_000_000
RUNS = 3
BEFORE_SIZE = 500_000
"""The byte-by-byte decoder is slow: it gets a shorter prefix of each input."""


def inputs() -> dict[str, tuple[bytes, bool]]:
    """Name -> (what the server sends, whether the server is in binary mode)."""
    rng = random.Random(13)
    text = console_mix(SIZE)[:SIZE]
    binary = bytes(rng.getrandbits(8) for _ in range(SIZE // 2)).replace(b"\xff", b"\xff\xff")
    return {
        "plain text, binary mode": (text, True),
        "plain text, CR NUL": (text.replace(b"\r\n", b"\r\x00\n"), False),
        "binary data, 0xFF doubled": (binary, True),
        "IAC NOP flood": (b"\xff\xf1" * (SIZE // 2), True),
        "IAC WILL flood": (b"\xff\xfb\x63" * (SIZE // 3), True),
    }


class _ByteState(Enum):
    DATA = auto()
    CR = auto()
    IAC = auto()
    OPTION = auto()
    SB = auto()
    SB_IAC = auto()


class PerByteCodec(TelnetCodec):
    """The codec's decoding as it once was, one byte at a time in Python: the "before" column."""

    def decode(self, raw: bytes) -> tuple[bytes, bytes]:
        data, answers = bytearray(), bytearray()
        state: _ByteState = getattr(self, "_byte_state", _ByteState.DATA)
        for byte in raw:
            if state is _ByteState.DATA or state is _ByteState.CR:
                if byte == IAC:
                    state = _ByteState.IAC
                elif state is _ByteState.CR and byte == NUL and BINARY not in self.theirs:
                    state = _ByteState.DATA
                else:
                    data.append(byte)
                    state = _ByteState.CR if byte == CR else _ByteState.DATA
            elif state is _ByteState.IAC:
                if byte == IAC:
                    data.append(IAC)
                    state = _ByteState.DATA
                elif byte in (WILL, WONT, DO, DONT):
                    self._verb = byte
                    state = _ByteState.OPTION
                elif byte == SB:
                    state = _ByteState.SB
                else:
                    state = _ByteState.DATA
            elif state is _ByteState.OPTION:
                answers += self._answer(self._verb, byte)
                state = _ByteState.DATA
            elif state is _ByteState.SB:
                if byte == IAC:
                    state = _ByteState.SB_IAC
            else:
                state = _ByteState.DATA if byte == SE else _ByteState.SB
        self._byte_state = state
        return bytes(data), bytes(answers)


def decode_all(codec_class: type[TelnetCodec], data: bytes, binary: bool) -> float:
    """Seconds to decode `data` in READ_SIZE reads."""
    codec = codec_class()
    if binary:
        codec.theirs.add(BINARY)
    decode = codec.decode
    started = time.perf_counter()
    for start in range(0, len(data), READ_SIZE):
        decode(data[start : start + READ_SIZE])
    return time.perf_counter() - started


def main() -> None:
    header = f"{'input':<28} {'before':>12} {'after':>12} {'range after':>17} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for name, (data, binary) in inputs().items():
        before = data[:BEFORE_SIZE]
        old = statistics.median(
            len(before) / 1e6 / decode_all(PerByteCodec, before, binary) for _ in range(RUNS)
        )
        rates = [len(data) / 1e6 / decode_all(TelnetCodec, data, binary) for _ in range(RUNS)]
        new = statistics.median(rates)
        print(
            f"{name:<28} {old:>7.1f} MB/s {new:>7.1f} MB/s "
            f"{min(rates):>7.1f}-{max(rates):<7.1f} {new / old:>5.0f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()

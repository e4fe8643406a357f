"""Property-based tests (hypothesis) of what parses bytes from the far end: the telnet codec and the
hub wire's framing, codecs and service.

Examples are few here so `make test` stays quick; `make bench` runs the same properties with
many more (bench/fuzz.py sets CONSOLE_TUI_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from console_tui.core import config, errors
from console_tui.core.backings._telnet import BINARY, TelnetCodec
from console_tui.core.hub import Hub
from console_tui.core.hubwire import HubService
from console_tui.core.hubwire.framing import LINE_LIMIT, encode, error_dict, raise_error
from console_tui.core.hubwire.ops import OPS

EXAMPLES = int(os.environ.get("CONSOLE_TUI_FUZZ_EXAMPLES", "60"))
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# -- the telnet codec -------------------------------------------------------------------------

TELNET_BYTES = [0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0xFA, 0xF0, 0xF1, 0xF3, 0x0D, 0x0A, 0x00, 0x01, 0x03]
"""Bytes that mean something in telnet (IAC, the verbs, SB/SE, NOP, BRK, CR, LF, NUL, options)."""

telnet_streams = st.one_of(
    st.binary(max_size=200),
    st.lists(st.one_of(st.sampled_from(TELNET_BYTES), st.integers(0, 255)), max_size=200).map(
        bytes
    ),
)


def decode_in_pieces(codec: TelnetCodec, raw: bytes, cuts: list[int]) -> tuple[bytes, bytes]:
    ends = sorted({cut % (len(raw) + 1) for cut in cuts} | {len(raw)})
    data, answers, start = b"", b"", 0
    for end in ends:
        piece_data, piece_answers = codec.decode(raw[start:end])
        data, answers, start = data + piece_data, answers + piece_answers, end
    return data, answers


@fuzz
@given(raw=telnet_streams, cuts=st.lists(st.integers(0, 400), max_size=8))
@example(raw=b"\r\xff\xf1\x00\xff\r\x00\xff\xff\r\x00", cuts=[1, 3, 6])
@example(raw=b"\xff\xfa\x18\xff\xff\xf0\xff\xf0ok", cuts=[2, 5])
@example(raw=b"\xff\xfb\x01\xff\xfb\x01\xff\xfb\x63\xff\xfb\x63", cuts=[4])
def test_telnet_decoding_any_split_equals_decoding_whole(raw: bytes, cuts: list[int]) -> None:
    whole_codec, split_codec = TelnetCodec(), TelnetCodec()
    whole = whole_codec.decode(raw)
    assert decode_in_pieces(split_codec, raw, cuts) == whole
    assert (split_codec.theirs, split_codec.ours) == (whole_codec.theirs, whole_codec.ours)
    assert 0xFF not in whole[0] or b"\xff\xff" in raw, "a data 0xFF only comes doubled"


@fuzz
@given(data=st.binary(max_size=300), binary=st.booleans(), cuts=st.lists(st.integers(), max_size=6))
@example(data=b"\r\x00\r\r\n\xff\xff\r", binary=False, cuts=[1, 2])
def test_iac_doubling_round_trips(data: bytes, binary: bool, cuts: list[int]) -> None:
    """What we encode, a telnet peer in the same mode decodes back to the same bytes."""
    ours, theirs = TelnetCodec(), TelnetCodec()
    if binary:
        ours.ours.add(BINARY)
        theirs.theirs.add(BINARY)
    encoded = ours.encode(data)
    assert encoded.count(b"\xff") == 2 * data.count(b"\xff")
    assert decode_in_pieces(theirs, encoded, cuts) == (data, b"")


# -- the hub wire: framing and codecs -----------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@fuzz
@given(
    kind=st.sampled_from(["ConsoleError", "ConfigError", "UnreachableError", "NotPermittedError"]),
    what=st.text(),
    where=st.text(),
    fix=st.text(),
)
def test_an_error_crosses_the_wire_as_itself(kind: str, what: str, where: str, fix: str) -> None:
    sent = getattr(errors, kind)(what, where=where, fix=fix)
    carried = json.loads(encode({"error": error_dict(sent)}))["error"]
    with pytest.raises(type(sent)) as got:
        raise_error(carried)
    assert (got.value.what, got.value.where, got.value.fix) == (what, where, fix)


@fuzz
@given(error=json_values)
def test_any_error_reply_raises_one_of_our_errors(error: Any) -> None:
    if not isinstance(error, dict):
        error = {"what": error}
    with pytest.raises((errors.ConsoleError, ValueError)):
        raise_error(error)


# -- the hub wire: the service ------------------------------------------------------------------


class WireProbe:
    """A raw connection to a real HubService: sends lines, reads each one's answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def dial(cls, path: Path) -> WireProbe:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=LINE_LIMIT)
        writer.write(encode({"op": "hello", "local": True}))
        probe = cls(reader, writer)
        assert "welcome" in await probe.next_message()
        return probe

    async def next_message(self) -> dict[str, Any]:
        async with asyncio.timeout(20):
            line = await self.reader.readline()
        assert line, "the service closed the connection"
        message = json.loads(line)
        assert isinstance(message, dict)
        return message

    async def ask(self, line: bytes) -> dict[str, Any]:
        """Send one line; the service's answer to it (events and status pushes are skipped)."""
        self.writer.write(line.replace(b"\n", b" ") + b"\n")
        await self.writer.drain()
        while "id" not in (message := await self.next_message()):
            pass
        return message


class ServedHub:
    """A Hub and its service in an event loop of their own, for a synchronous hypothesis test."""

    def __init__(self, folder: Path) -> None:
        self.runner = asyncio.Runner()
        self.unhandled: list[dict[str, Any]] = []
        self.hub = Hub(
            config.parse(
                f'[[target]]\nname = "web"\nconsole = "unix://{folder}/web.sock"\n'
                f'[[target]]\nname = "lab"\nconsole = "unix://{folder}/lab.sock"\n'
            )
        )
        self.service = HubService(self.hub, folder / "run" / "hub.sock")
        self.probe: WireProbe = self.runner.run(self._start(folder))

    async def _start(self, folder: Path) -> WireProbe:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: self.unhandled.append(ctx))
        self.console = await asyncio.start_unix_server(
            lambda reader, writer: None, path=str(folder / "web.sock")
        )
        await self.service.start()
        return await WireProbe.dial(self.service.path)

    def ask(self, line: bytes) -> dict[str, Any]:
        return self.runner.run(self.probe.ask(line))

    def close(self) -> None:
        async def stop() -> None:
            self.probe.writer.close()
            await self.service.close()
            await self.hub.close()
            self.console.close()

        self.runner.run(stop())
        self.runner.close()


@pytest.fixture
def served() -> Iterator[ServedHub]:
    folder = Path(tempfile.mkdtemp(prefix="ctui-", dir="/tmp"))
    hub = ServedHub(folder)
    yield hub
    hub.close()
    shutil.rmtree(folder, ignore_errors=True)
    assert not hub.unhandled, "nothing raised out of the service"


OP_NAMES = [*OPS, "statuses", "hello", "format_disk", ""]
requests = st.fixed_dictionaries(
    {"op": st.sampled_from(OP_NAMES) | st.text(max_size=12)},
    optional={
        "id": json_values,
        "args": json_values
        | st.dictionaries(
            st.sampled_from(["name", "viewer", "data", "columns", "rows", "wait", "keys", "to"]),
            json_values | st.sampled_from(["web", "lab", {"id": 1}, "aGk="]),
        ),
    },
)
lines = st.one_of(
    requests.map(lambda r: json.dumps(r).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=100),
)


@fuzz
@given(line=lines)
def test_garbage_to_the_service_gets_an_answer_and_breaks_nothing(
    served: ServedHub, line: bytes
) -> None:
    try:
        sent = json.loads(line)
    except ValueError:
        sent = None
    if isinstance(sent, dict) and sent.get("op") == "watch":
        return  # a subscription to status pushes: no answer by design
    answer = served.ask(line)
    assert "error" in answer or "result" in answer
    if not isinstance(sent, dict):
        assert answer["id"] is None and "JSON object" in answer["error"]["what"]
    assert served.ask(encode({"id": -1, "op": "probe", "args": {"name": "web"}}))["result"]


NASTY_LINES = {
    "deep nesting": b"[" * 100_000,
    "NaN": b'{"id": 1, "op": "attach", "args": {"name": "web", "wait": NaN}}',
    "infinity": b'{"id": 2, "op": "attach", "args": {"name": "web", "wait": Infinity}}',
    "bad viewer id": b'{"id": 3, "op": "resize", "args": {"viewer": {"id": [1]}, "columns": 1}}',
    "args not an object": b'{"id": 4, "op": "detach", "args": [1]}',
    "not attached": b'{"id": 5, "op": "sysrq", "args": {"viewer": 1, "sysrq_keys": "h"}}',
    "not base64": b'{"id": 6, "op": "write", "args": {"viewer": 1, "data": "not base64!"}}',
    "not UTF-8": b"\xff\xfe not utf-8",
    "empty": b"",
}


@pytest.mark.parametrize("line", NASTY_LINES.values(), ids=NASTY_LINES.keys())
def test_nasty_lines_get_an_error_answer(served: ServedHub, line: bytes) -> None:
    answer = served.ask(line)
    assert "error" in answer and answer["error"]["what"]
    assert served.ask(encode({"id": -1, "op": "probe", "args": {"name": "web"}}))["result"]

"""The terminal filter (core/terminal_filter.py) and the attach escape parser, with fuzzing.

The property tests run a bounded number of examples here; `make bench` runs them much longer
(CONSOLE_TUI_FUZZ_EXAMPLES). The escape parser is fuzzed against a real Hub whose console is a
real TCP listener in the test's event loop.
"""

from __future__ import annotations

import asyncio
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console_tui.core.api import Event, EventKind, Viewer
from console_tui.core.config import parse
from console_tui.core.hub import Hub
from console_tui.core.passthrough import Passthrough
from console_tui.core.terminal_filter import ReplyFilter, TerminalFilter

EXAMPLES = int(os.environ.get("CONSOLE_TUI_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HOSTILE = (
    b"\x1b]52;c;cm0gLXJmIC8K\x07"  # OSC 52: set the clipboard
    b"\x1b]0;owned\x1b\\"  # title
    b"\x1b[6n\x1b[c\x1b[>c\x1b[5n\x1b[18t\x1b[21t"  # cursor, attributes, status, size, title
    b"\x1bP$qm\x1b\\\x1bP+q544e\x1b\\\x1b[>q\x1b]11;?\x07"  # DECRQSS, XTGETTCAP, XTVERSION, OSC 11
    b"\x1b[?1000h\x1b[?1006h\x1b[?1004h\x1b[>4;2m\x1b[>1u\x1b=\x1b[?3h"  # mouse, focus, keys, 132
    b"\x1b_apc\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\\x1bZ\x1bc\xc2\x9b6n"
)
# What may never reach an operator's terminal: queries, report requests and strings.
FORBIDDEN = re.compile(
    rb"\x1b[\]P_^XZc=]"  # strings, DECID, RIS, keypad mode
    rb"|\x1b\[[^\x40-\x7e]*[cntqpxy]|\x1b\[[^\x40-\x7e]+u|\x1b\[[<>=]"  # queries, key modes
    rb"|\x1b\[\?(?:[0-9;]*;)?(?:100[0-9]|101[56]|9|3)(?:;[0-9;]*)?[hl]"  # mouse, focus, 132 cols
)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` in pieces, cut at the given offsets (taken modulo its length)."""
    points = [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    return [data[a:b] for a, b in zip([0, *points], points, strict=False)]


def run_filter(policy: str, data: bytes, cuts: list[int]) -> bytes:
    terminal = TerminalFilter(policy)  # type: ignore[arg-type]
    return b"".join(terminal.feed(piece) for piece in split_at(data, cuts))


def test_passthrough_keeps_what_a_console_needs() -> None:
    console = (
        b"login: \x1b[1;32mok\x1b[0m\r\n\x1b[2J\x1b[H\x1b[5;20r\x1b[3;4H\x1b[K\x1b[2P\x1b[?1049h"
        b"\x1b[?1h\x1b[?2004h\x1b(0lqk\x1b(B\x1b7\x1b8\x1bM\t\x08\x07caf\xc3\xa9"
    )
    assert TerminalFilter().feed(console) == console


def test_passthrough_drops_every_hostile_sequence_and_keeps_the_text_around_them() -> None:
    out = TerminalFilter().feed(b"a" + HOSTILE + b"z")
    assert out == b"a6nz", out


def test_mode_lists_keep_only_allowed_modes() -> None:
    assert TerminalFilter().feed(b"\x1b[?1000;1049;1006h") == b"\x1b[?1049h"
    assert TerminalFilter().feed(b"\x1b[?1000l") == b""


def test_restore_undoes_what_was_let_through() -> None:
    terminal = TerminalFilter()
    assert terminal.restore() == b"\x1b[0m\x1b[?25h"
    terminal = TerminalFilter()
    terminal.feed(b"\x1b[?1049h\x1b[?25l\x1b[2;10r\x1b[?2004h\x1b[?1h\x1b[4h\x1b(0\x1b[31m")
    restore = terminal.restore()
    for part in (b"\x1b[0m", b"\x1b[?1049l", b"\x1b[?25h", b"\x1b[r", b"\x1b[?2004l", b"\x1b[?1l"):
        assert part in restore
    assert b"\x1b[4l" in restore and b"\x1b(B" in restore


def test_text_policy_keeps_text_newlines_tabs_and_colours_only() -> None:
    prompt = b"demo:~# \x1b[6n"
    out = TerminalFilter("text").feed(b"\x1b[1;31mred\x1b[0m\tx\r\n" + prompt + HOSTILE)
    assert out == b"\x1b[1;31mred\x1b[0m\tx\r\ndemo:~# 6n"


def test_a_never_ended_string_hides_nothing_after_its_terminator() -> None:
    terminal = TerminalFilter()
    assert terminal.feed(b"\x1b]52;c;" + b"A" * 100_000) == b""
    assert terminal.feed(b"\x07after") == b"after"


def test_invalid_utf8_and_c1_controls_never_pass() -> None:
    out = TerminalFilter().feed(b"\x9b6n \xc2\x9d0;x\x07 \xff")
    assert out.decode() == "\ufffd6n 0;x\x07 \ufffd"


def test_replies_are_dropped_from_input_even_when_split() -> None:
    replies = ReplyFilter()
    typed = b""
    for piece in (b"ls\x1b[24;", b"80R -l\x1bP1$r0", b"m\x1b\\\x1b]11;rgb:0/0/0", b"\x07\r"):
        typed += replies.feed(piece)
    assert typed == b"ls -l\r"


def test_keys_pass_input_whole() -> None:
    keys = b"\x1b\x1b[A\x1bOP\x1b[15~\x1b[1;5C\x1b[200~paste\x1b[201~\x1bp\x1b[Z\x7f"
    assert ReplyFilter().feed(keys) == keys
    replies = ReplyFilter()
    assert replies.feed(b"\x1b") == b"\x1b", "a lone Esc key is not held back"
    assert replies.feed(b"\x1b]") == b"\x1b]", "neither is Alt+]"


def test_every_answer_to_a_query_is_dropped() -> None:
    answers = (
        b"\x1b[12;40R\x1b[?12;40;1R\x1b[?62;22c\x1b[>41;380;0c\x1b[0n\x1b[?997;1n"
        b"\x1bP1$r0;1m\x1b\\\x1bP1+r544e=787465726d\x1b\\\x1bP>|XTerm(380)\x1b\\"
        b"\x1b]11;rgb:ffff/ffff/ffff\x1b\\\x1b]10;rgb:0/0/0\x07\x1b[8;24;80t\x1b[4;600;800t"
        b"\x1b]lmy title\x1b\\\x1b]Licon\x1b\\\x1b[?1;2$y\x1b[?1u\x1b[I\x1b[O"
    )
    assert ReplyFilter().feed(answers) == b""


# -- properties ---------------------------------------------------------------------------

sequences = st.sampled_from(
    [HOSTILE[i : i + 7] for i in range(0, len(HOSTILE), 7)]
    + [b"\x1b", b"\x1b[", b"\x1b]", b"\x1bP", b"\x07", b"\x1b\\", b"\x18", b"[6n", b"\xc3", b";"]
)
console_bytes = st.lists(st.binary(max_size=24) | sequences, max_size=40).map(b"".join)
cuts = st.lists(st.integers(min_value=0, max_value=4000), max_size=12)


@FUZZ
@given(data=console_bytes, cut=cuts, policy=st.sampled_from(["passthrough", "text"]))
def test_fuzz_filter_output_is_safe_and_the_same_whole_or_split(
    data: bytes, cut: list[int], policy: str
) -> None:
    whole = run_filter(policy, data, [])
    assert run_filter(policy, data, cut) == whole
    assert not FORBIDDEN.search(whole), whole
    text = whole.decode("utf-8")
    assert not any(0x80 <= ord(c) <= 0x9F for c in text)
    if policy == "text":
        assert not re.search(rb"\x1b(?!\[[0-9;:]*m)", whole), whole


@FUZZ
@given(data=st.binary(max_size=300), cut=cuts)
def test_fuzz_reply_filter_never_raises_and_holds_little(data: bytes, cut: list[int]) -> None:
    replies = ReplyFilter()
    typed = b"".join(replies.feed(piece) for piece in split_at(data, cut))
    assert len(typed) <= len(data)
    if b"\x1b" not in data:
        assert typed == data


keystrokes = st.lists(
    st.binary(max_size=8)
    | st.sampled_from(
        [b"\r", b"~", b"~?", b"~s", b"~f", b"~n", b"~r", b"~w", b"~b", b"~~", b"1", b"y", b"\x1b["]
    ),
    max_size=30,
).map(b"".join)


async def attach_and_type(chunks: list[bytes]) -> tuple[bool, list[str]]:
    """Attach to a real TCP console through a real Hub, type `chunks`; detached? and what was said."""
    received = bytearray()

    async def console(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(4096):
            received.extend(data)
        writer.close()

    server = await asyncio.start_server(console, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hub = Hub(parse(f'[[target]]\nname = "fuzz"\nconsole = "tcp://127.0.0.1:{port}"\n'))
    said: list[str] = []
    try:
        viewer = await hub.attach("fuzz", wait=5)
        passthrough = Passthrough(
            hub, viewer, lambda data: said.append(data.decode("utf-8", "replace"))
        )
        for chunk in chunks:
            await passthrough.feed(chunk)
        return passthrough.done.is_set(), said
    finally:
        await hub.close()
        server.close()


@FUZZ
@given(prefix=keystrokes, suffix=st.binary(max_size=16), cut=cuts)
def test_fuzz_escape_parser_never_raises_and_tilde_dot_after_enter_detaches(
    prefix: bytes, suffix: bytes, cut: list[int]
) -> None:
    data = prefix + b"\r~." + suffix
    chunks = split_at(data, cut)
    detached, said = asyncio.run(attach_and_type(chunks))
    assert detached, f"{data!r} in {chunks!r} did not detach; said {said!r}"


def test_snapshot_starts_the_filter_afresh() -> None:
    """A snapshot after a drop begins a new stream: a half sequence before it is forgotten."""
    out: list[bytes] = []
    passthrough = Passthrough(Hub(parse("")), Viewer("t", "me"), out.append)
    passthrough._show(Event(EventKind.OUTPUT, b"x\x1b]52;c;"))
    passthrough._show(Event(EventKind.SNAPSHOT, b"\x1b[H\x1b[2Jscreen"))
    assert b"".join(out) == b"x\x1b[H\x1b[2Jscreen"


@pytest.mark.parametrize("raw", [False, True])
def test_log_prints_safe_text_unless_raw(
    raw: bool, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    from console_tui.cli import main
    from console_tui.core.transcript import Transcript, transcript_path

    transcript = Transcript(transcript_path("demo"))
    transcript.write(b"demo:~# \x1b[6n\x1b]52;c;eA==\x07\x1b[32mok\x1b[0m\r\n")
    transcript.close()
    assert main(["log", "demo", *(["--raw"] if raw else [])]) == 0
    printed = capsysbinary.readouterr().out
    if raw:
        assert b"\x1b[6n\x1b]52;c;eA==\x07" in printed
    else:
        assert printed.endswith(b"demo:~# \x1b[32mok\x1b[0m\r\n"), printed

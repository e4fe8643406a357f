"""Transcripts and the audit log: private files, bounded size, nothing secret."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

from console_tui.core.audit import AuditLog
from console_tui.core.transcript import (
    Transcript,
    follow_transcript,
    read_transcript,
    transcript_files,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_transcript_rotates_within_its_bound_and_keeps_order(tmp_path: Path) -> None:
    path = tmp_path / "t" / "demo.log"
    transcript = Transcript(path, max_bytes=4096, files=3)
    lines = [f"line {i:05d}\n".encode() for i in range(2000)]
    for line in lines:
        transcript.write(line)
    transcript.close()
    files = transcript_files(path)
    assert [f.name for f in files] == ["demo.log.2", "demo.log.1", "demo.log"]
    assert all(f.stat().st_size <= 4096 for f in files)
    assert all(mode(f) == 0o600 for f in files)
    assert mode(path.parent) == 0o700
    kept = b"".join(read_transcript(path))
    assert kept == b"".join(lines)[-len(kept) :], "the newest bytes are kept, in order"
    assert len(kept) > 8192


def test_transcript_appends_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "demo.log"
    first = Transcript(path)
    first.write(b"one\n")
    first.close()
    second = Transcript(path)
    second.mark("reconnected")
    second.write(b"two\n")
    second.close()
    assert b"".join(read_transcript(path)) == b"one\n\r\n[console-tui] reconnected\r\ntwo\n"


async def test_follow_sees_appends_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "demo.log"
    transcript = Transcript(path, max_bytes=4096, files=2)
    seen = bytearray()

    async def follow() -> None:
        async for chunk in follow_transcript(path, poll=0.01):
            seen.extend(chunk)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    payload = b"".join(f"{i:04d}\n".encode() for i in range(1500))
    for start in range(0, len(payload), 500):
        transcript.write(payload[start : start + 500])
        await asyncio.sleep(0.03)
    async with asyncio.timeout(5):
        while bytes(seen) != payload:
            await asyncio.sleep(0.01)
    task.cancel()
    transcript.close()


def test_audit_lines_are_json_and_private(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record("sysrq", who="alice", target="demo", source="10.0.0.9", keys="h")
    log.record("nmi", who="bob", target="demo")
    entries = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [e["event"] for e in entries] == ["sysrq", "nmi"]
    assert (
        entries[0]["who"] == "alice"
        and entries[0]["source"] == "10.0.0.9"
        and entries[0]["keys"] == "h"
    )
    assert mode(tmp_path / "audit.jsonl") == 0o600

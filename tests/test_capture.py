"""`serve` holds every console line from the start: what a console prints while nobody watches is
kept, and whoever opens it later sees its screen and scrollback at once, with no keypress.

Against the demo guest (a real Linux under QEMU) and real unix-socket peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from pathlib import Path

import pytest
from conftest import capture_daemon, cli, wait_for

from console_tui import lab
from console_tui.core.control import make_control
from console_tui.core.screen import available_backends, make_screen

TIMEOUT = 90


@pytest.mark.guest
def test_a_reboot_nobody_watches_is_kept_and_a_late_joiner_sees_it(guest: lab.LabInfo) -> None:
    pexpect = pytest.importorskip("pexpect")
    with capture_daemon(guest.config_path) as said:
        assert "holding and recording 1 console line(s)" in said
        listed = json.loads(cli("--config", str(guest.config_path), "list", "--json").stdout)
        assert listed[0]["state"] == "connected" and listed[0]["viewers"] == 0
        # Reset through QEMU's second QMP socket: nothing of console-tui is attached or asked.
        asyncio.run(make_control(f"qmp://{guest.admin_qmp_socket}").reset())

        def booted_again() -> bool:
            text = cli("log", "demo").stdout
            return "Linux version" in text and lab.READY_LINE in text.split("Linux version")[-1]

        wait_for(booted_again, "the whole new boot in the transcript", timeout=TIMEOUT)
        log = cli("log", "demo").stdout
        assert 0 <= log.rfind("the machine was reset") < log.rfind("Linux version"), "marked first"
        assert log.count("the machine was reset") == 1, "one reset, one marker"

        # A late, read-only joiner sees the boot (scrollback) and the screen without a keypress.
        child = pexpect.spawn(
            sys.executable,
            ["-m", "console_tui", "--config", str(guest.config_path), "attach", "demo", "-r"],
            timeout=20,
            dimensions=(24, 100),
        )
        try:
            child.expect_exact("attached to demo")
            child.expect_exact("Linux version")
            child.expect_exact(lab.READY_LINE)
            child.send("~.")
            child.expect_exact("detached")
            child.expect(pexpect.EOF)
        finally:
            child.close()


def test_capture_false_leaves_the_line_alone_until_someone_opens_it(tmp_path: Path) -> None:
    """A unix-socket peer that counts who connects: only the captured target's line is opened."""
    held, free = tmp_path / "held.sock", tmp_path / "free.sock"
    listeners = []
    for path in (held, free):
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
        listener.listen(4)
        listener.setblocking(False)
        listeners.append(listener)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[[target]]\nname = "held"\nconsole = "unix://{held}"\n'
        f'[[target]]\nname = "free"\nconsole = "unix://{free}"\ncapture = false\n'
    )
    accepted: dict[Path, list[socket.socket]] = {held: [], free: []}

    def accept_all() -> None:
        for path, listener in zip((held, free), listeners, strict=True):
            with contextlib.suppress(BlockingIOError):
                accepted[path].append(listener.accept()[0])

    try:
        with capture_daemon(cfg) as said:
            assert "holding and recording 1 console line(s)" in said

            def held_opened() -> bool:
                accept_all()
                return bool(accepted[held])

            wait_for(held_opened, "the captured line to be opened")
            accepted[held][0].sendall(b"printed while nobody watched\r\n")
            wait_for(
                lambda: "printed while nobody watched" in cli("log", "held").stdout,
                "the transcript to keep it",
            )
            accept_all()
            assert accepted[free] == [], "a capture = false line is not opened at start"
    finally:
        for sock in [*listeners, *accepted[held], *accepted[free]]:
            sock.close()


@pytest.mark.parametrize("backend", available_backends())
def test_a_late_joiners_snapshot_carries_the_scrollback(backend: str) -> None:
    """Fed to a fresh terminal, the snapshot gives the same scrollback and the same screen."""
    source = make_screen(40, 5, scrollback_lines=100, backend=backend)
    source.feed(b"".join(b"\x1b[1mline %d\x1b[0m of the boot\r\n" % n for n in range(30)))
    source.feed(b"prompt# ")
    joiner = make_screen(40, 5, scrollback_lines=100, backend=backend)
    joiner.feed(source.snapshot(history=True))
    history = [row.text.rstrip() for row in source.history()]
    assert history[:3] == ["line 0 of the boot", "line 1 of the boot", "line 2 of the boot"]
    assert [row.text.rstrip() for row in joiner.history()][: len(history)] == history
    assert joiner.display() == source.display()
    assert joiner.cursor == source.cursor
    catch_up = make_screen(40, 5, scrollback_lines=100, backend=backend)
    catch_up.feed(source.snapshot())
    assert catch_up.history() == [], "a catch-up snapshot redraws the screen only"


def test_found_vms_and_ports_are_not_held_from_the_start() -> None:
    """A found line may belong to another tool (or reset a board when opened): listed, not held."""
    from console_tui.core.discovery import qemu_target, serial_targets

    argv = ["qemu-system-x86_64", "-name", "vm", "-serial", "chardev:s"]
    argv += ["-chardev", "socket,id=s,path=/x.sock,server=on"]
    found = qemu_target(argv, pid=1, cwd="/")
    assert found is not None and found.capture is False
    assert all(port.capture is False for port in serial_targets())


@pytest.mark.parametrize("backend", available_backends())
def test_a_shorter_viewer_is_shown_the_bottom_of_the_screen(backend: str) -> None:
    """A viewer whose terminal has fewer rows than the session's screen keeps the prompt and the
    line above it, not the lowest rows piled onto its last line."""
    source = make_screen(40, 24, scrollback_lines=100, backend=backend)
    source.feed(b"".join(b"boot line %d\r\n" % n for n in range(40)))
    source.feed(b"Enter 'help' for a list of commands.\r\n\r\ndemo:~# ")
    joiner = make_screen(40, 20, scrollback_lines=100, backend=backend)
    joiner.feed(source.snapshot(history=True))
    shown = [line.rstrip() for line in joiner.display()]
    assert shown[-3:] == ["Enter 'help' for a list of commands.", "", "demo:~#"]
    assert joiner.cursor == (8, 19)

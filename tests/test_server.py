"""`console-tui serve` with the real OpenSSH client.

The server runs as its own process on 127.0.0.1 port 0 (the port is read back from its first line);
`ssh -tt` is driven with pexpect, with throwaway keys from ssh-keygen. The console is
peers.py's EchoConsole (socat and a pty that echoes what it receives), or the demo guest.
The app-process tests run a small probe in place of the full-screen app: it reaches the Hub with
the one-time token exactly as the app does and reports its pty's size and controlling terminal.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from conftest import audit_events, table_rows, wait_for
from peers import PROBE, EchoConsole, Keys, Server, start_server, users_toml

pytestmark = pytest.mark.debian

TIMEOUT = 10


ROLES = {"alice": "operator", "bob": "operator", "vic": "viewer"}


def _targets(console: EchoConsole) -> str:
    return (
        f'[[target]]\nname = "web"\ngroup = "prod"\nconsole = "unix://{console.path}"\n'
        f'[[target]]\nname = "db"\ngroup = "data"\nconsole = "unix://{console.path}-none"\n'
    )


@pytest.fixture
def server(tmp_path: Path, keys: Keys, console: EchoConsole) -> Iterator[Server]:
    text = _targets(console) + users_toml(keys, ROLES, {"vic": ["prod"]})
    running = start_server(tmp_path, text, keys)
    yield running
    running.stop()


@pytest.fixture
def probe_server(tmp_path: Path, keys: Keys, console: EchoConsole) -> Iterator[Server]:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    text = _targets(console) + users_toml(keys, ROLES, {"vic": ["prod"]})
    # The server appends --hub-socket PATH --hub-token-fd N to this command.
    command = [sys.executable, str(probe), "web"]
    running = start_server(tmp_path, text, keys, app_command=command)
    yield running
    running.stop()


# -- login --------------------------------------------------------------------------------


def test_host_key_is_made_once_private_and_reused(
    tmp_path: Path, keys: Keys, console: EchoConsole
) -> None:
    from console_tui.server.auth import host_key_path

    text = _targets(console) + users_toml(keys, {"alice": "operator"}, {})
    first = start_server(tmp_path, text, keys)
    first.stop()
    assert oct(host_key_path().stat().st_mode & 0o777) == "0o600"
    second = start_server(tmp_path, text, keys)
    second.stop()
    fingerprint = re.search(r"host key (SHA256:\S+)", first.banner)
    assert fingerprint and fingerprint.group(1) in second.banner


def test_unknown_key_is_refused_and_audited(server: Server) -> None:
    result = server.run("mallory", "list")
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr
    failed = audit_events("auth-failed")
    assert failed and failed[0]["source"] == "127.0.0.1" and failed[0]["who"] == "console"
    assert str(failed[0]["key"]).startswith("SHA256:")
    assert not audit_events("login")


def test_own_login_name_works_and_another_users_name_does_not(server: Server) -> None:
    assert server.run("alice", "list", login="alice").returncode == 0
    assert server.run("alice", "list", login="bob").returncode == 255
    logins = audit_events("login")
    assert [(e["who"], e["source"]) for e in logins] == [("alice", "127.0.0.1")]


def test_failed_logins_are_rate_limited_per_address(server: Server) -> None:
    for _ in range(10):
        server.run("mallory", "list")
    # Over the limit, even a good key is turned away for a while.
    result = server.run("alice", "list")
    assert result.returncode == 255
    assert any(e.get("reason") == "too many failed logins" for e in audit_events("auth-failed"))


def test_list_shows_only_the_targets_a_user_may_see(server: Server) -> None:
    alice = server.run("alice", "list")
    assert alice.returncode == 0, alice.stderr
    names = [line.split()[0] for line in alice.stdout.splitlines()[1:]]
    assert names == ["web", "db"]
    vic = server.run("vic", "list", "--json")
    assert [t["name"] for t in json.loads(vic.stdout)] == ["web"]
    refused = server.run("vic", "db")
    assert refused.returncode == 4 and "no target named 'db'" in refused.stderr


# -- passthrough ----------------------------------------------------------------------------


def test_two_operators_share_output_and_only_the_lock_holder_types(
    server: Server, console: EchoConsole
) -> None:
    alice = server.spawn("alice", "web")
    alice.expect_exact("attached to web as alice (operator)")
    bob = server.spawn("bob", "web")
    bob.expect_exact("attached to web as bob (operator)")
    alice.send("echo one\r")
    console.wait_received(b"echo one\r")
    alice.expect_exact("echo one")
    bob.expect_exact("echo one")
    bob.send("rm -rf /\r")
    bob.expect_exact("alice@127.0.0.1 holds the write lock")
    console.say(b"from the guest\r\n")
    alice.expect_exact("from the guest")
    bob.expect_exact("from the guest")
    assert b"rm -rf" not in console.got()
    # bob asks for the lock (~w, typed as ~~w through ssh), alice hands it over with ~w.
    bob.send("\r~~w")
    alice.expect_exact("bob@127.0.0.1 asks for the write lock")
    alice.send("\r~~w")
    bob.expect_exact("handed you the write lock")
    bob.send("date\r")
    console.wait_received(b"date\r")
    # One console connection (socat accepts only one), two viewers, bob writes.
    listing = table_rows(server.run("alice", "list").stdout)["web"]
    assert (listing["STATE"], listing["WRITER"], listing["VIEWERS"]) == (
        "connected",
        "bob@127.0.0.1",
        "2",
    )
    assert [e["action"] for e in audit_events("lock")][:1] == ["took"]
    assert any(e["action"] == "handed to bob" for e in audit_events("lock"))
    for child in (alice, bob):
        child.sendcontrol("c")
        child.send("\r~~.")
        child.expect(pexpect.EOF)


def test_a_viewer_cannot_type_or_send_sysrq_and_is_told_why(
    server: Server, console: EchoConsole
) -> None:
    vic = server.spawn("vic", "web")
    vic.expect_exact("you watch only")
    vic.send("reboot\r")
    vic.expect_exact("a viewer cannot type on the console")
    vic.send("~~s")
    vic.expect_exact("SysRq key?")
    vic.send("b")
    vic.expect_exact("a viewer cannot send SysRq")
    vic.send("\r~B")
    vic.expect_exact("a viewer cannot send BREAK")
    vic.send("\r~~.")
    vic.expect(pexpect.EOF)
    assert b"reboot" not in console.got() and b"b" not in console.got()
    denied = audit_events("denied")
    assert {e["action"] for e in denied} >= {"send SysRq", "send BREAK"}
    assert all(e["who"] == "vic" and e["source"] == "127.0.0.1" for e in denied)
    attach = audit_events("attach")
    assert attach and attach[0]["role"] == "viewer" and attach[0]["source"] == "127.0.0.1"


@pytest.mark.guest
def test_operators_share_the_guest_and_ssh_break_then_h_is_sysrq_help(
    tmp_path: Path, keys: Keys, guest: object
) -> None:
    text = (
        f'[[target]]\nname = "demo"\nconsole = {json.dumps(guest.console_uri)}\n'  # type: ignore[attr-defined]
        + users_toml(keys, {"alice": "operator", "bob": "operator"}, {})
    )
    server = start_server(tmp_path, text, keys)
    try:
        alice = server.spawn("alice", "demo")
        alice.expect_exact("attached to demo")
        bob = server.spawn("bob", "demo")
        bob.expect_exact("attached to demo")
        alice.send("\recho sync-$((6*7))\r")
        alice.expect_exact("sync-42")
        bob.expect_exact("sync-42")
        bob.send("echo bob-$((2*3))\r")
        bob.expect_exact("alice@127.0.0.1 holds the write lock")
        alice.send("\r~B")
        alice.expect_exact("sent BREAK")
        alice.send("h")
        alice.expect_exact("sysrq: HELP")
        bob.expect_exact("sysrq: HELP")
        alice.send("\recho done-$((3*3))\r")
        alice.expect_exact("done-9")
        log = guest.serial_log.read_bytes()  # type: ignore[attr-defined]
        assert b"done-9" in log and b"bob-" not in log, "bob's keys never reached the guest"
        for child in (alice, bob):
            child.send("\r~~.")
            child.expect(pexpect.EOF)
    finally:
        server.stop()
    assert [e["who"] for e in audit_events("break")] == ["alice"]


# -- the app process ------------------------------------------------------------------------


def probe_line(child: pexpect.spawn, field: str) -> str:
    child.expect(rf"\[probe\] [^\r]*{field}=(\S+)")
    return child.match.group(1).decode()


def test_app_process_owns_its_pty_and_acts_as_the_ssh_user(
    probe_server: Server, console: EchoConsole
) -> None:
    vic = probe_server.spawn("vic")
    vic.expect(r"\[probe\] pid=(\d+) who=(\w+) role=(\w+) ctty=(\w+) hup=(\w+)")
    assert vic.match.groups()[1:] == (b"vic", b"viewer", b"yes", b"default")
    vic.send("halt\r")
    vic.expect_exact("a viewer cannot type on the console")
    alice = probe_server.spawn("alice")
    alice.expect_exact("who=alice role=operator")
    alice.send("uptime\r")
    console.wait_received(b"uptime\r")
    vic.expect_exact("uptime")
    assert b"halt" not in console.got()
    for child in (vic, alice):
        child.close(force=True)


def test_a_resize_reaches_the_app_process(probe_server: Server) -> None:
    child = probe_server.spawn("alice", rows=30, columns=100)
    assert probe_line(child, "size") == "100x30"
    child.setwinsize(40, 132)
    assert probe_line(child, "size") == "132x40"
    child.close(force=True)


def test_killing_the_client_ends_its_app_process(probe_server: Server) -> None:
    child = probe_server.spawn("alice")
    child.expect(r"\[probe\] pid=(\d+)")
    pid = int(child.match.group(1))
    child.expect_exact("[probe] attached")
    os.kill(child.pid, signal.SIGKILL)
    child.close(force=True)

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, f"app process {pid} to end")
    wait_for(lambda: audit_events("detach"), "its viewer to be detached")
    assert [e["who"] for e in audit_events("detach")] == ["alice"]


def test_the_app_needs_a_terminal(probe_server: Server) -> None:
    result = subprocess.run(
        ["ssh", "-T", *probe_server.ssh_args("alice")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 2 and "needs a terminal" in result.stderr


def test_the_full_screen_app_opens_over_ssh(server: Server) -> None:
    """The real app process (python -m console_tui --hub-socket ...) draws the targets vic may
    see, from the server's Hub: `db` is not in vic's groups."""
    vic = server.spawn("vic", rows=30, columns=100)
    vic.expect_exact("web", timeout=30)
    vic.expect(pexpect.TIMEOUT, timeout=1)
    assert b"db" not in vic.before
    vic.close(force=True)
    alice = server.spawn("alice", rows=30, columns=100)
    alice.expect_exact("db", timeout=30)
    alice.close(force=True)


def test_an_idle_operator_is_detached_told_why_and_the_guest_logged_out(
    tmp_path: Path, keys: Keys, console: EchoConsole
) -> None:
    text = (
        "[settings]\nidle_timeout = 1\n"
        f'[[target]]\nname = "web"\nconsole = "unix://{console.path}"\non_detach = "exit\\r"\n'
        + users_toml(keys, {"alice": "operator"}, {})
    )
    server = start_server(tmp_path, text, keys)
    try:
        alice = server.spawn("alice", "web")
        alice.expect_exact("attached to web")
        alice.send("ls\r")
        console.wait_received(b"ls\r")
        alice.expect_exact("no input for 1 s (idle timeout)")
        alice.expect(pexpect.EOF)
        console.wait_received(b"ls\rexit\r")
    finally:
        server.stop()

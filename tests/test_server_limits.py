"""What a remote party can do to `console-tui serve` and to an operator's terminal, with the real
OpenSSH client against a real server process (started by peers.start_server).

Memory is read from the server's /proc/PID/status; the bounds asserted are generous (tens of MB)
against growth of hundreds of MB without the limits. Terminal state is read from a real tmux.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from conftest import audit_events, need_command, wait_for
from peers import PROBE, EchoConsole, Keys, Server, start_server, users_toml
from peers import SSH_TIMEOUT as TIMEOUT

from bench.server_memory import FLOOD, rss
from console_tui.core.audit import audit_path
from console_tui.core.transcript import transcript_path

pytestmark = pytest.mark.debian

MB = 1024 * 1024


def serve(tmp_path: Path, keys: Keys, targets: str, settings: str = "", **kw: object) -> Server:
    users = users_toml(keys, {"alice": "operator", "bob": "operator", "vic": "viewer"}, {})
    text = (f"[settings]\n{settings}\n" if settings else "") + targets + users
    return start_server(tmp_path, text, keys, **kw)  # type: ignore[arg-type]


def web(console: EchoConsole) -> str:
    return f'[[target]]\nname = "web"\nconsole = "unix://{console.path}"\n'


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


# -- item 2: a slow reader ----------------------------------------------------------------


def test_a_reader_that_stops_reading_costs_the_server_bounded_memory(
    tmp_path: Path, keys: Keys
) -> None:
    """`ssh console@host NAME` whose reader stops: 150 MB of console output later, the server
    has grown by far less (flow control, then a snapshot), and the reader catches up after."""
    script = tmp_path / "flood.py"
    script.write_text(FLOOD)
    sock = tmp_path / "flood.sock"
    peer = subprocess.Popen(
        [sys.executable, str(script), str(sock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert peer.stdin and peer.stdout
    assert peer.stdout.readline() == b"listening\n"
    target = f'[[target]]\nname = "flood"\nconsole = "unix://{sock}"\n'
    with running(serve(tmp_path, keys, target)) as server:
        reader = pexpect.spawn("ssh", ["-tt", *server.ssh_args("alice", "flood")], timeout=TIMEOUT)
        reader.expect_exact("attached to flood")
        reader.kill(signal.SIGSTOP)  # reads nothing more
        before = rss(server.process.pid)
        peer.stdin.write(b"go 150\n")
        peer.stdin.flush()
        assert peer.stdout.readline() == b"done\n"
        wait_for(lambda: b"flood-done" in transcript_path("flood").read_bytes(), "the output")
        grown = rss(server.process.pid) - before
        print(f"server grew {grown / MB:.1f} MB for 150 MB to a stopped reader")
        assert grown < 60 * MB
        reader.kill(signal.SIGCONT)
        reader.expect_exact("flood-done", timeout=30)
        reader.send("\r~~.")
        reader.expect(pexpect.EOF)
    peer.kill()
    peer.wait()


# -- item 3: failed logins ----------------------------------------------------------------


def ssh_with_keys(
    server: Server, names: list[str], *command: str
) -> subprocess.CompletedProcess[str]:
    """ssh offering several keys in order, as an agent full of keys does."""
    identities = [arg for name in names for arg in ("-i", str(server.keys.make(name)[0]))]
    args = server.ssh_args(names[-1], *command)
    return subprocess.run(
        ["ssh", *identities, *args], capture_output=True, text=True, timeout=TIMEOUT
    )


def test_keys_offered_before_the_right_one_never_lock_anybody_out(
    tmp_path: Path, keys: Keys, console: EchoConsole
) -> None:
    with running(serve(tmp_path, keys, web(console))) as server:
        extra = [f"other{n}" for n in range(5)]
        for _ in range(4):
            result = ssh_with_keys(server, [*extra, "alice"], "list")
            assert result.returncode == 0, result.stderr
        # Someone behind the same address fails a few times with several keys each: still in.
        for _ in range(4):
            assert ssh_with_keys(server, ["m1", "m2", "m3"], "list").returncode == 255
        assert server.run("bob", "list").returncode == 0
        assert len(audit_events("login")) == 5


# -- items 4 and 5: the operator's terminal -------------------------------------------------


class Tmux:
    """A private tmux server (its own socket) running one command in a pane."""

    def __init__(self, folder: Path, command: list[str]) -> None:
        need_command("tmux")
        self.socket = str(folder / "tmux.sock")
        conf = folder / "tmux.conf"
        conf.write_text("set -g set-clipboard on\n")  # OSC 52 from a pane would set a buffer
        # The pane's shell stays after the command, so its terminal state can still be read.
        stay = '"$@"; echo "[exited $?]"; exec sleep 600'
        self.tmux(
            "-f",
            str(conf),
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "sh",
            "-c",
            stay,
            "sh",
            *command,
        )

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J")

    def wait_screen(self, text: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in (screen := self.screen()):
            assert time.monotonic() < deadline, f"no {text!r} on the tmux screen:\n{screen}"
            time.sleep(0.05)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-l", text)

    def state(self) -> dict[str, str]:
        names = ["alternate_on", "mouse_any_flag", "cursor_flag", "keypad_flag", "pane_title"]
        values = self.tmux("display", "-p", "|".join(f"#{{{n}}}" for n in names)).strip()
        return dict(zip(names, values.split("|"), strict=True))

    def buffers(self) -> str:
        return self.tmux("list-buffers")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.tmux("kill-server")


HOSTILE = (
    b"\x1b[?1049h\x1b[?1000h\x1b[?1006h\x1b[?25l\x1b="  # alternate screen, mouse, no cursor
    b"\x1b]52;c;cm0gLXJmIC8K\x07\x1b]2;owned\x07"  # the clipboard and the title
    b"\x1b[6n\x1b[c\x1b[>q\x1b]11;?\x07\x1bP$qm\x1b\\\x1b[18t"  # queries a terminal answers
    b"hostile-done\r\n"
)


def check_terminal_restored(tmux: Tmux, console: EchoConsole, how: str) -> None:
    tmux.wait_screen("console connected")  # after the first snapshot, which clears the screen
    console.say(HOSTILE)
    tmux.wait_screen("hostile-done")
    tmux.type("\r")
    console.wait_received(b"\r")
    tmux.type("~~." if how == "ssh" else "~.")
    tmux.wait_screen("[exited 0]")
    state = tmux.state()
    assert state["pane_title"] != "owned", state
    assert (state["alternate_on"], state["mouse_any_flag"], state["cursor_flag"]) == ("0", "0", "1")
    assert state["keypad_flag"] == "0"
    assert tmux.buffers() == "", "OSC 52 set a tmux buffer"
    # The Hub's screen model answers the guest's queries itself; tmux's answers never arrive.
    received = console.got()
    assert received.endswith(b"\r") and received.count(b"R") <= 1, received
    for answer in (b"tmux", b"rgb:", b"\x1bP1$r", b"\x1b[8;", b"\x1b[?1;2c"):
        assert answer not in received, f"the terminal's answer {answer!r} reached the console"


def test_hostile_output_over_ssh_leaves_the_operator_terminal_as_it_was(
    tmp_path: Path, keys: Keys, console: EchoConsole
) -> None:
    with running(serve(tmp_path, keys, web(console))) as server:
        tmux = Tmux(tmp_path, ["ssh", "-tt", *server.ssh_args("alice", "web")])
        try:
            check_terminal_restored(tmux, console, "ssh")
        finally:
            tmux.close()


def test_hostile_output_through_attach_leaves_the_operator_terminal_as_it_was(
    tmp_path: Path, console: EchoConsole
) -> None:
    config = tmp_path / "local.toml"
    config.write_text(web(console))
    command = [sys.executable, "-m", "console_tui", "--config", str(config), "attach", "web"]
    tmux = Tmux(tmp_path, command)
    try:
        check_terminal_restored(tmux, console, "attach")
    finally:
        tmux.close()


@pytest.mark.guest
def test_ssh_escapes_work_at_the_demo_guest_prompt(
    tmp_path: Path, keys: Keys, guest: object
) -> None:
    """The guest's prompt asks for the cursor position; if the operator's terminal answered,
    OpenSSH would no longer be after a newline and `~B` would be typed to the guest."""
    target = f'[[target]]\nname = "demo"\nconsole = {json.dumps(guest.console_uri)}\n'  # type: ignore[attr-defined]
    with running(serve(tmp_path, keys, target)) as server:
        tmux = Tmux(tmp_path, ["ssh", "-tt", *server.ssh_args("alice", "demo")])
        try:
            tmux.wait_screen("console connected")
            tmux.type("\recho ready-$((6*7))\r")
            tmux.wait_screen("ready-42")
            tmux.type("\r")
            wait_for(lambda: tmux.screen().rstrip().endswith("#"), "a fresh prompt")
            tmux.type("~B")
            tmux.wait_screen("sent BREAK")
            tmux.type("h")
            tmux.wait_screen("sysrq: HELP")
            tmux.type("\r~~.")
            tmux.wait_screen("detached")
        finally:
            tmux.close()
    log = guest.serial_log.read_bytes()  # type: ignore[attr-defined]
    assert b"~B" not in log and b"R~" not in log


# -- item 8: the audit log ------------------------------------------------------------------


def test_a_flood_of_failed_logins_is_a_few_short_audit_records(
    tmp_path: Path, keys: Keys, console: EchoConsole
) -> None:
    long_name = "x" * 2000
    with running(serve(tmp_path, keys, web(console))) as server:
        for _ in range(14):
            assert server.run("mallory", "list", login=long_name).returncode == 255
        assert server.run("alice", "list").returncode == 255, "over the limit"
    lines = audit_path().read_text().splitlines()
    failed = audit_events("auth-failed")
    assert len(failed) <= 4, failed
    assert all(len(line) < 600 for line in lines), max(lines, key=len)
    assert any(e.get("reason") == "too many failed logins" for e in failed)
    repeated = sum(int(e.get("repeated", 0)) for e in failed)  # type: ignore[call-overload]
    assert repeated + len(failed) >= 14
    assert oct(audit_path().stat().st_mode & 0o777) == "0o600"


def test_the_audit_log_rotates_in_private_files(tmp_path: Path) -> None:
    from console_tui.core.audit import AuditLog

    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=8192, files=3)
    for n in range(2000):
        log.record("attach", who=f"user{n}", target="web", source="10.0.0.1")
    log.close()
    files = sorted(tmp_path.glob("audit.jsonl*"))
    assert [f.name for f in files] == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert all(f.stat().st_size <= 8192 and f.stat().st_mode & 0o777 == 0o600 for f in files)
    last = json.loads(files[0].read_text().splitlines()[-1])
    assert last["who"] == "user1999"


# -- item 9: env requests -------------------------------------------------------------------


def test_env_requests_are_not_stored(tmp_path: Path, keys: Keys, console: EchoConsole) -> None:
    config = tmp_path / "ssh_config"
    value = "v" * 30000
    # OpenSSH takes the first SetEnv line only: every variable goes on that one line.
    config.write_text("SetEnv " + " ".join(f"X{n}={value}" for n in range(600)) + "\n")
    with running(serve(tmp_path, keys, web(console))) as server:
        args = server.ssh_args("alice", "web")
        args[args.index("-F") + 1] = str(config)
        before = rss(server.process.pid)
        child = pexpect.spawn("ssh", ["-tt", *args], timeout=60)
        child.expect_exact("attached to web")
        grown = rss(server.process.pid) - before
        print(f"server grew {grown / MB:.1f} MB for 600 env requests of 30 KB (18 MB)")
        assert grown < 8 * MB
        child.send("\r~~.")
        child.expect(pexpect.EOF)


# -- item 10: app sessions ------------------------------------------------------------------


def test_app_sessions_are_limited_per_user_and_in_all(
    tmp_path: Path, keys: Keys, console: EchoConsole
) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    settings = "max_sessions = 2\nmax_sessions_per_user = 1\n"
    command = [sys.executable, str(probe), "web"]
    with running(serve(tmp_path, keys, web(console), settings, app_command=command)) as server:
        first = server.spawn("alice")
        first.expect_exact("[probe] attached")
        second = server.spawn("alice")
        second.expect_exact("max_sessions_per_user = 1")
        second.expect(pexpect.EOF)
        second.close()
        assert second.exitstatus == 4
        bob = server.spawn("bob")
        bob.expect_exact("[probe] attached")
        vic = server.spawn("vic")
        vic.expect_exact("max_sessions = 2")
        vic.expect(pexpect.EOF)
        # Passthrough is not an app session: still open to everybody.
        assert server.run("vic", "list").returncode == 0
        first.close(force=True)
        wait_for(lambda: audit_events("detach"), "alice's first session to end")
        again = server.spawn("alice")
        again.expect_exact("[probe] attached", timeout=20)
        for child in (again, bob):
            child.close(force=True)
    assert any(e.get("action") == "open the app" for e in audit_events("denied"))

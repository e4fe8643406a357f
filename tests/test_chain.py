"""Chaining: a `[[remote]]` is another `console-tui serve`, reached with the real SSH stack.

The remote ("rack2") is a real `serve` process with its own XDG folders (its own host key, hub
socket and audit log), holding an echoing console (socat and a pty). The front end is either
this machine's commands with a config naming rack2, or a second real `serve` reached with the
OpenSSH client. Nothing is mocked.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest
from conftest import cli, table_rows
from peers import EchoConsole, Keys, Server, start_server, users_toml

pytestmark = pytest.mark.debian

XDG = ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME")


@dataclass
class Rack:
    server: Server
    known_hosts: Path
    audit: Path

    def logins(self) -> list[dict[str, object]]:
        lines = self.audit.read_text().splitlines() if self.audit.exists() else []
        return [e for e in map(json.loads, lines) if e["event"] == "login"]


@contextlib.contextmanager
def own_folders(home: Path, runtime: Path) -> Iterator[None]:
    """The XDG folders of another machine, for what starts inside the block (the runtime
    folder short: a socket path must fit in 107 bytes)."""
    before = {var: os.environ[var] for var in XDG}
    for var in XDG:
        folder = runtime if var == "XDG_RUNTIME_DIR" else home / var.lower()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ[var] = str(folder)
    try:
        yield
    finally:
        os.environ.update(before)


@pytest.fixture
def rack(tmp_path: Path, keys: Keys, console: EchoConsole, sock_dir: Path) -> Iterator[Rack]:
    import asyncssh

    from console_tui.core.audit import audit_path
    from console_tui.server.auth import host_key_path

    home = tmp_path / "rack2"
    roles = {"front": "operator", "watcher": "viewer"}
    text = f'[[target]]\nname = "web"\nconsole = "unix://{console.path}"\n'
    with own_folders(home, sock_dir / "run"):
        server = start_server(home, text + users_toml(keys, roles, {}), keys)
        public = asyncssh.read_private_key(host_key_path()).export_public_key().decode()
        audit = audit_path()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{server.port} {public}")
    yield Rack(server, known_hosts, audit)
    server.stop()


def front_config(tmp_path: Path, keys: Keys, rack: Rack, login: str, *, port: int = 0) -> Path:
    key, _ = keys.make(login)
    path = tmp_path / f"front-{login}.toml"
    path.write_text(
        '[[remote]]\nname = "rack2"\n'
        f'url = "ssh://console@127.0.0.1:{port or rack.server.port}"\n'
        f'key = "{key}"\nknown_hosts = "{rack.known_hosts}"\n'
    )
    return path


def test_a_remote_target_is_listed_and_typed_on_through_the_remote(
    tmp_path: Path, keys: Keys, rack: Rack, console: EchoConsole
) -> None:
    config = front_config(tmp_path, keys, rack, "front")
    listed = cli("--config", str(config), "list")
    assert listed.returncode == 0, listed.stderr
    rows = table_rows(listed.stdout)
    assert rows["web"]["GROUP"] == "rack2"
    assert rows["web"]["STATE"] == "reachable"
    sent = cli("--config", str(config), "send", "web", "--text", "chained\\r")
    assert sent.returncode == 0, sent.stderr
    console.wait_received(b"chained\r")


def test_a_viewer_there_stays_a_viewer_here(
    tmp_path: Path, keys: Keys, rack: Rack, console: EchoConsole
) -> None:
    config = front_config(tmp_path, keys, rack, "watcher")
    sent = cli("--config", str(config), "send", "web", "--text", "sneaky\\r")
    assert sent.returncode != 0
    assert "rack2 lets this login only watch web (viewer there)" in sent.stderr
    assert b"sneaky" not in console.got()


def test_an_unreachable_remote_says_why(tmp_path: Path, keys: Keys, rack: Rack) -> None:
    bad_host_key = tmp_path / "other_known_hosts"
    bad_host_key.write_text(
        f"[127.0.0.1]:{rack.server.port} ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    config = front_config(tmp_path, keys, rack, "front")
    config.write_text(config.read_text().replace(str(rack.known_hosts), str(bad_host_key)))
    listed = cli("--config", str(config), "list")
    assert listed.returncode == 0
    assert "remote rack2: its host key is not in known_hosts" in listed.stderr
    sent = cli("--config", str(config), "send", "web", "--text", "x")
    assert sent.returncode != 0
    assert "no target named 'web'" in sent.stderr
    assert "remote rack2: its host key is not in known_hosts" in sent.stderr
    bad_host_key.write_text(f"[127.0.0.1]:{rack.server.port}\n")  # a line cut short
    listed = cli("--config", str(config), "list")
    assert listed.returncode == 0
    assert "remote rack2: cannot read the known_hosts or key file" in listed.stderr


def test_two_serves_chained_share_one_connection(
    tmp_path: Path, keys: Keys, rack: Rack, console: EchoConsole
) -> None:
    """Two operators on the front serve open rack2's target: rack2 sees one login, both see
    the console, and what one types reaches it."""
    remote = front_config(tmp_path, keys, rack, "front")
    users = users_toml(keys, {"alice": "operator", "bob": "operator"}, {})
    (tmp_path / "front").mkdir()
    front = start_server(tmp_path / "front", remote.read_text() + users, keys)
    try:
        listed = front.run("alice", "list")
        assert "web" in listed.stdout, listed.stderr
        alice = front.spawn("alice", "web")
        alice.expect("attached to web")
        bob = front.spawn("bob", "attach", "web", "--read-only")
        bob.expect("attached to web")
        console.say(b"hello from the guest\r\n")
        alice.expect("hello from the guest")
        bob.expect("hello from the guest")
        alice.send("typed-through\r")
        console.wait_received(b"typed-through\r")
        alice.sendline("~~.")
        alice.expect(pexpect.EOF)
        bob.sendline("~~.")
        bob.expect(pexpect.EOF)
    finally:
        front.stop()
    assert [e["who"] for e in rack.logins()] == ["front"]


def test_a_broken_remote_entry_names_its_line_and_the_fix(tmp_path: Path) -> None:
    config = tmp_path / "front.toml"
    config.write_text('[[remote]]\nname = "rack2"\nurl = "telnet://rack2:23"\n')
    result = cli("--config", str(config), "list")
    assert result.returncode != 0
    assert f"{config}:3" in result.stderr
    assert "is not ssh://USER@HOST[:PORT]" in result.stderr
    assert 'e.g. url = "ssh://console@rack2.example:2222"' in result.stderr

"""What remote parties cost `console-tui serve` in memory, with the real OpenSSH client.

- a passthrough reader (`ssh console@host NAME`) that stops reading while the console floods;
- one that reads, but slower than the console;
- one user opening full-screen app sessions one after another (each is a process).

Prints the server's resident memory growth (its whole process tree for app sessions).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

MB = 1024 * 1024
FLOOD_MB = 300
APP_SESSIONS = 8

FLOOD = r"""
import socket, sys
listener = socket.socket(socket.AF_UNIX)
listener.bind(sys.argv[1])
listener.listen(1)
print("listening", flush=True)
conn, _ = listener.accept()
for line in sys.stdin:
    block = (b"flood " + b"x" * 72 + b"\r\n") * 840
    for _ in range(int(line.split()[1]) * 1048576 // len(block)):
        conn.sendall(block)
    conn.sendall(b"flood-done\r\n")
    print("done", flush=True)
"""


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_rss(root: int) -> int:
    """Resident memory of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError):
            total += rss(pid)
        todo += children.get(pid, [])
    return total


class Lab:
    """A temp folder with private XDG dirs, a key, a flooding console and a server."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = dict(os.environ)
        for var in ("CONFIG", "STATE", "DATA", "RUNTIME", "CACHE"):
            path = folder / var.lower()
            path.mkdir(mode=0o700)
            self.env[f"XDG_{var}_HOME" if var != "RUNTIME" else "XDG_RUNTIME_DIR"] = str(path)
        self.key = folder / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key], check=True)
        script = folder / "flood.py"
        script.write_text(FLOOD)
        sock = folder / "flood.sock"
        self.flood = subprocess.Popen(
            [sys.executable, str(script), str(sock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.flood.stdout is not None and self.flood.stdout.readline() == b"listening\n"
        public = (folder / "key.pub").read_text().strip()
        config = folder / "config.toml"
        config.write_text(
            f'[[target]]\nname = "flood"\nconsole = "unix://{sock}"\n'
            f'[[user]]\nname = "alice"\nrole = "operator"\nkeys = ["{public}"]\n'
        )
        serve = ["serve", "--listen", "127.0.0.1:0"]
        self.server = subprocess.Popen(
            [sys.executable, "-m", "console_tui", "--config", str(config), *serve],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self.env,
        )
        assert self.server.stdout is not None
        banner = b""
        while b"connect:" not in banner:
            select.select([self.server.stdout], [], [], 30)
            banner += self.server.stdout.readline()
        match = re.search(rb"127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        self.port = match.group(1).decode()

    def ssh(self, *command: str) -> list[str]:
        return [
            "ssh", "-tt", "-F", "/dev/null", "-p", self.port, "-i", str(self.key),
            "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
            "console@127.0.0.1", *command,
        ]  # fmt: skip

    def flood_and_wait(self, megabytes: int) -> None:
        assert self.flood.stdin and self.flood.stdout
        self.flood.stdin.write(f"go {megabytes}\n".encode())
        self.flood.stdin.flush()
        assert self.flood.stdout.readline() == b"done\n"
        log = Path(self.env["XDG_STATE_HOME"]) / "console-tui" / "transcripts" / "flood.log"
        deadline = time.monotonic() + 120
        while b"flood-done" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)

    def close(self) -> None:
        for process in (self.server, self.flood):
            process.terminate()
            process.wait()


@contextlib.contextmanager
def lab() -> Iterator[Lab]:
    with tempfile.TemporaryDirectory() as folder:
        running = Lab(Path(folder))
        try:
            yield running
        finally:
            running.close()


def stopped_reader() -> None:
    import pexpect

    with lab() as here:
        reader = pexpect.spawn(here.ssh("flood")[0], here.ssh("flood")[1:], timeout=30)
        reader.expect_exact("console connected")
        reader.kill(signal.SIGSTOP)
        before = rss(here.server.pid)
        here.flood_and_wait(FLOOD_MB)
        during = rss(here.server.pid) - before
        reader.kill(signal.SIGKILL)
        time.sleep(2)
        after = rss(here.server.pid) - before
        print(
            f"stopped reader, {FLOOD_MB} MB of output: server +{during / MB:.0f} MB, "
            f"+{after / MB:.0f} MB after the reader left"
        )


def slow_reader() -> None:
    with lab() as here:
        reader = subprocess.Popen(here.ssh("flood"), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert reader.stdout is not None
        before = rss(here.server.pid)
        assert here.flood.stdin
        here.flood.stdin.write(f"go {FLOOD_MB // 3}\n".encode())
        here.flood.stdin.flush()
        peak = 0
        fd = reader.stdout.fileno()
        os.set_blocking(fd, False)
        assert here.flood.stdout
        while not select.select([here.flood.stdout], [], [], 0)[0]:
            with contextlib.suppress(BlockingIOError):
                os.read(fd, 65536)  # about 3 MB/s: slower than the console
            time.sleep(0.02)
            peak = max(peak, rss(here.server.pid) - before)
        print(f"slow reader, {FLOOD_MB // 3} MB of output: server peak +{peak / MB:.0f} MB")
        reader.kill()
        reader.wait()


def app_sessions() -> None:
    import pexpect

    with lab() as here:
        before = tree_rss(here.server.pid)
        opened = refused = 0
        children = []
        for _ in range(APP_SESSIONS):
            child = pexpect.spawn(here.ssh()[0], here.ssh()[1:], timeout=60, dimensions=(30, 100))
            which = child.expect(["flood", "max_sessions", pexpect.EOF])
            opened += which == 0
            refused += which != 0
            children.append(child)
        time.sleep(3)
        grown = tree_rss(here.server.pid) - before
        print(
            f"one user asks for {APP_SESSIONS} app sessions: {opened} opened, {refused} refused, "
            f"server and its apps +{grown / MB:.0f} MB"
        )
        for child in children:
            child.close(force=True)


def main() -> None:
    stopped_reader()
    slow_reader()
    app_sessions()


if __name__ == "__main__":
    main()

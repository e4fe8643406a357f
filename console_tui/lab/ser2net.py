"""A ser2net (Debian) terminal server for the lab: one connection on a loopback port, its yaml and
pidfile in a folder of the caller's, stopped by its PID. The tests and the RFC 2217 benchmark put
it in front of a pty or the demo guest's serial line.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from console_tui.core.errors import UnreachableError

START_TIMEOUT = 10.0
_LISTEN = "0A"
"""The state of a listening socket in /proc/net/tcp."""


@dataclass
class Ser2net:
    """A running ser2net serving one connection on 127.0.0.1 `port`."""

    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something listens on loopback `port`, read from /proc: a probing connection would
    take ser2net's one client slot and open its connector."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    address = f"0100007F:{port:04X}"
    return any(row.split()[1] == address and row.split()[3] == _LISTEN for row in rows)


@contextlib.contextmanager
def ser2net(folder: Path, accepter: str, connector: str) -> Iterator[Ser2net]:
    """ser2net with `accepter: ACCEPTER,tcp,127.0.0.1,PORT` and `connector: CONNECTOR`, e.g.
    `telnet(rfc2217)` and `serialdev,/dev/pts/3,115200n81,local`."""
    program = shutil.which("ser2net")
    if program is None:
        raise UnreachableError(
            "ser2net is not installed", where="lab", fix="apt-get install ser2net"
        )
    port = free_port()
    config = folder / f"ser2net-{port}.yaml"
    config.write_text(
        "connection: &line\n"
        f"  accepter: {accepter},tcp,127.0.0.1,{port}\n"
        f"  connector: {connector}\n"
    )
    pidfile = folder / f"ser2net-{port}.pid"
    process = subprocess.Popen(
        [program, "-n", "-u", "-c", str(config), "-P", str(pidfile)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Ser2net(process, port)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and not listening(port):
            if time.monotonic() > deadline:
                raise UnreachableError(
                    f"ser2net did not listen on port {port} within {START_TIMEOUT:g} s",
                    where=str(config),
                    fix="run ser2net -d -c on that file to see why",
                )
            time.sleep(0.05)
        if process.poll() is not None:
            raise UnreachableError(
                f"ser2net exited with {process.returncode}",
                where=str(config),
                fix="run ser2net -d -c on that file to see why",
            )
        yield server
    finally:
        server.stop()

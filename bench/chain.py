"""Time to the first console byte through a chained serve ([[remote]]).

A real `console-tui serve` (the remote, with its own XDG folders) holds a console line from
socat that says `login` to each connection; a Hub here with a `[[remote]]` for it opens that target:
- cold: a new Hub, so a new SSH connection, the remote's `list`, then `stream NAME`;
- warm: a second `stream` of it on the connection already there.
Medians of RUNS.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from console_tui.core import config, remotes
from console_tui.core.api import EventKind
from console_tui.core.config import Role
from console_tui.core.hub import Hub

RUNS = 5
XDG = ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME")


def start_remote(
    folder: Path,
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], int, Path, Path]:
    """The remote serve and its console line; its port, the client key and a known_hosts file."""
    env = dict(os.environ)
    for var in XDG:
        (folder / var.lower()).mkdir(mode=0o700)
        env[var] = str(folder / var.lower())
    key = folder / "front"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    sock = folder / "c.sock"
    console = subprocess.Popen(
        ["socat", f"UNIX-LISTEN:{sock},fork", "SYSTEM:echo login; cat"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not sock.exists():
        time.sleep(0.05)
    public = (folder / "front.pub").read_text().strip()
    (folder / "remote.toml").write_text(
        f'[[target]]\nname = "web"\nconsole = "unix://{sock}"\n'
        f'[[user]]\nname = "front"\nrole = "operator"\nkeys = ["{public}"]\n'
    )
    argv = [sys.executable, "-m", "console_tui", "--config", str(folder / "remote.toml"), "serve"]
    process = subprocess.Popen(
        [*argv, "--listen", "127.0.0.1:0"], env=env, stdout=subprocess.PIPE, bufsize=0
    )
    assert process.stdout is not None
    said = b""
    while b"connect:" not in said:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"the remote serve did not start: {said!r}")
        said += line
    port = int(re.search(rb"127\.0\.0\.1:(\d+)", said).group(1))  # type: ignore[union-attr]
    host_key = folder / "xdg_data_home" / "console-tui" / "ssh_host_ed25519_key.pub"
    known = folder / "known_hosts"
    if host_key.exists():
        known.write_text(f"[127.0.0.1]:{port} {host_key.read_text()}")
    else:
        scan = subprocess.run(
            ["ssh-keyscan", "-p", str(port), "127.0.0.1"], capture_output=True, text=True
        )
        known.write_text(scan.stdout)
    return process, console, port, key, known


async def first_byte(hub: Hub) -> float:
    started = time.perf_counter()
    if "web" not in {t.name for t in hub.targets()}:
        await hub.refresh_targets()
    viewer = await hub.attach("web", who="bench", role=Role.OPERATOR, write=False, wait=10)
    async for event in viewer.events():
        if event.kind in (EventKind.OUTPUT, EventKind.SNAPSHOT) and b"login" in event.data:
            break
    elapsed = time.perf_counter() - started
    await hub.detach(viewer)
    return elapsed


async def stream_first_byte(link: remotes.Link | None) -> float:
    """A second `stream` on the link the Hub already opened."""
    assert link is not None
    started = time.perf_counter()
    writer, reader, _ = await link.open_stream("web")
    seen = b""
    while b"login" not in seen:
        seen += await reader.read(4096)
    elapsed = time.perf_counter() - started
    writer.close()
    return elapsed


async def measure(front: config.Config) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    for _ in range(RUNS):
        hub = Hub(front)
        try:
            cold.append(await first_byte(hub))
            warm.append(await stream_first_byte(remotes.find("rack2")))
        finally:
            await hub.close()
            await remotes.close_all()
    return cold, warm


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ctui-chain-", dir="/tmp") as name:
        folder = Path(name)
        process, console, port, key, known = start_remote(folder)
        try:
            front = config.parse(
                f'[[remote]]\nname = "rack2"\nurl = "ssh://console@127.0.0.1:{port}"\n'
                f'key = "{key}"\nknown_hosts = "{known}"\n'
            )
            cold, warm = asyncio.run(measure(front))
        finally:
            process.terminate()
            process.wait(10)
            console.terminate()
            console.wait(10)
    print(
        f"first console byte through a chained serve, median of {RUNS}: "
        f"cold (connect, list, stream) {statistics.median(cold) * 1000:.0f} ms, "
        f"warm (stream on the shared connection) {statistics.median(warm) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()

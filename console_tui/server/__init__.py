"""`console-tui serve`: the SSH server with shared live sessions (see ssh.py)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence

from console_tui.core.config import Config
from console_tui.core.errors import EXIT_OK, ConfigError, UsageError
from console_tui.server.auth import host_key_path

__all__ = ["parse_listen", "run", "serve"]


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT` or `:PORT` (every address)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(
            f"--listen {listen!r} is not HOST:PORT", where="serve", fix="e.g. --listen 0.0.0.0:2222"
        )
    return host.strip("[]"), int(port)


def serve(config: Config, *, listen: str) -> int:
    """Run the SSH server until SIGINT or SIGTERM."""
    host, port = parse_listen(listen)
    return asyncio.run(run(config, host, port))


async def run(
    config: Config, host: str, port: int, *, app_command: Sequence[str] | None = None
) -> int:
    from console_tui.server.ssh import ConsoleServer

    if not config.users:
        raise ConfigError(
            "no [[user]] entries: nobody could log in",
            where=str(config.path or "config"),
            fix='add [[user]] with name, role and keys = ["ssh-ed25519 AAAA..."]',
        )
    server = ConsoleServer(config, app_command=app_command)
    if not len(server.keys):
        raise ConfigError(
            "no [[user]] has a public key: nobody could log in",
            where=str(config.path or "config"),
            fix="give each user keys = [...] or keys_file = PATH",
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        bound = await server.start(host, port)
    except OSError as exc:
        await server.close()
        raise UsageError(
            f"cannot listen on {host or '*'}:{port}: {exc.strerror}",
            where="serve",
            fix="pick a free port with --listen HOST:PORT",
        ) from None
    shown = f"[{host}]" if ":" in host else host or "0.0.0.0"
    print(f"console-tui: SSH server on {shown}:{bound} for {len(config.users)} user(s)")
    print(f"host key {server.fingerprint} ({host_key_path()})")
    print(f"connect: ssh -p {bound} console@HOST")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await server.close()
    return EXIT_OK

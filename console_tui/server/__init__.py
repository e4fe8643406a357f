"""`console-tui serve`: every console held and recorded from the start, and the SSH server with
shared live sessions (see ssh.py); `serve --no-ssh` holds the consoles without an SSH listener."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from collections.abc import Sequence

from console_tui.core import paths
from console_tui.core.config import Config
from console_tui.core.errors import EXIT_OK, ConfigError, UsageError

__all__ = ["parse_listen", "run", "run_capture", "serve"]


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT` or `:PORT` (every address)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(
            f"--listen {listen!r} is not HOST:PORT", where="serve", fix="e.g. --listen 0.0.0.0:2222"
        )
    return host.strip("[]"), int(port)


def serve(config: Config, *, listen: str | None) -> int:
    """Hold every console, and serve SSH on `listen` (None: no SSH), until SIGINT or SIGTERM."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # each line when it happens, in a log too
    if listen is None:
        return asyncio.run(run_capture(config))
    host, port = parse_listen(listen)
    return asyncio.run(run(config, host, port))


async def _stopped() -> None:
    """Return on SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _say(words: str) -> None:
    """A line about what the server is doing, shown at once."""
    print(f"console-tui: {words}", flush=True)


def _say_held(names: list[str], config: Config) -> None:
    skipped = "" if names else " (every target has capture = false)"
    print(f"console-tui: holding and recording {len(names)} console line(s){skipped}")
    from console_tui.core.listener import places

    dial_in = places(config.settings.concentrators, [t.console for t in config.targets])
    if dial_in:
        print(f"console-tui: VMs dial in at {', '.join(dial_in)}")


async def run_capture(config: Config) -> int:
    """The Hub and its local socket without SSH: a capture daemon that local commands join."""
    from console_tui.core.hub import Hub
    from console_tui.core.hubwire import HubService

    hub = Hub(config)
    service = HubService(hub, paths.runtime_dir() / f"hub-{os.getpid()}.sock")
    await service.start()
    try:
        _say_held(await hub.capture(), config)
        print(f"local commands (list, attach, send, the app) join through {service.path}")
        sys.stdout.flush()
        await _stopped()
    finally:
        await service.close()
        await hub.close()
    return EXIT_OK


async def run(
    config: Config, host: str, port: int, *, app_command: Sequence[str] | None = None
) -> int:
    _say("starting the SSH server")
    from console_tui.server.auth import host_key_path
    from console_tui.server.ssh import ConsoleServer

    if not config.users:
        raise ConfigError(
            "no [[user]] entries: nobody could log in",
            where=str(config.path or "config"),
            fix='add [[user]] with name, role and keys = ["ssh-ed25519 AAAA..."]',
        )
    if not host_key_path().exists():
        _say(f"making the SSH host key (first start only): {host_key_path()}")
    server = ConsoleServer(config, app_command=app_command)
    if not len(server.keys):
        raise ConfigError(
            "no [[user]] has a public key: nobody could log in",
            where=str(config.path or "config"),
            fix="give each user keys = [...] or keys_file = PATH",
        )
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
    try:
        _say_held(await server.hub.capture(), config)
        print(f"connect: ssh -p {bound} console@HOST")
        sys.stdout.flush()
        await _stopped()
    finally:
        await server.close()
    return EXIT_OK

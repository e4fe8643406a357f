"""Local commands join a running server's Hub, so a one-client console line is opened once.

The console is a real unix-socket peer in this process; the commands run as real subprocesses.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import table_rows
from peers import ConsolePeer, echo

from console_tui.core import config, paths
from console_tui.core.errors import NotPermittedError
from console_tui.core.hub import Hub
from console_tui.core.hubwire import HubService, RemoteHub


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[ConsolePeer, str, Hub]]:
    """A console, a config naming it, and a running server's Hub that holds its line open."""
    sock = tmp_path / "vm.sock"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[[target]]\nname = "vm"\nconsole = "unix://{sock}"\n')
    async with ConsolePeer(sock, b"login: ", reply=echo) as console:
        hub = Hub(config.load(cfg))
        service = HubService(hub, paths.runtime_dir() / f"hub-{os.getpid()}.sock")
        await service.start()
        await hub.open("vm", wait=5)
        try:
            yield console, str(cfg), hub
        finally:
            await service.close()
            await hub.close()


async def run_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console_tui",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


async def test_send_and_list_go_through_the_running_server(
    served: tuple[ConsolePeer, str, Hub],
) -> None:
    console, cfg, _ = served
    code, out, err = await run_cli(
        "--config", cfg, "send", "vm", "--text", "hello\\r", "--wait", "0.5"
    )
    assert code == 0, err
    assert "through the running server" in err
    assert b"hello\r" in console.received
    assert "hello" in out, "the console's echo comes back through the server"
    code, out, err = await run_cli("--config", cfg, "list")
    assert code == 0 and table_rows(out)["vm"]["STATE"] == "connected"
    assert console.connections == 1, "the line was opened once, by the server"


async def test_a_target_the_server_does_not_serve_is_opened_locally(
    served: tuple[ConsolePeer, str, Hub], tmp_path: Path
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(f'[[target]]\nname = "elsewhere"\nconsole = "unix://{tmp_path}/none.sock"\n')
    code, _, err = await run_cli("--config", str(other), "send", "elsewhere", "--text", "x")
    assert code == 3 and "through the running server" not in err and "does not exist" in err


async def test_another_unix_user_is_not_the_local_admin(
    served: tuple[ConsolePeer, str, Hub], sock_dir: Path
) -> None:
    """Even with the socket opened up to everyone, the kernel-reported uid decides."""
    if os.getuid() != 0:
        pytest.skip("needs root to become another user")
    _, _, hub = served
    service = HubService(hub, sock_dir / "hub.sock")
    await service.start()
    os.chmod(sock_dir, 0o755)  # unlike tmp_path, whose parents only root may enter
    os.chmod(sock_dir / "hub.sock", 0o666)
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                os.setgid(65534)
                os.setuid(65534)
                RemoteHub.dial(sock_dir / "hub.sock", "", timeout=5)
                message = b"joined"
            except NotPermittedError as exc:
                message = str(exc).encode()
            except BaseException as exc:
                message = f"other: {exc!r}".encode()
            os.write(write_end, message)
            os._exit(0)
        os.close(write_end)
        answer = await asyncio.to_thread(os.read, read_end, 4096)
        os.close(read_end)
        os.waitpid(pid, 0)
    finally:
        await service.close()
    assert b"unknown or used hub token" in answer, answer

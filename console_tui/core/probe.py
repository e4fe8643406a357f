"""Is a target there? A quick look at its console line and its control, for `list` and the inventory.

A probe never disturbs a line: a serial port is only looked at (opening one toggles DTR, which resets
some boards), and a one-client line that another console-tui here holds is reported in use, never
dialled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from console_tui.core import remotes
from console_tui.core.backings import make_backing, parse_console_uri
from console_tui.core.backings.comport import SettableLine
from console_tui.core.config import Target
from console_tui.core.control import make_control
from console_tui.core.errors import ConsoleError
from console_tui.core.session import LineClaim

PROBE_TIMEOUT = 3.0


async def probe_console(target: Target) -> tuple[str, str, str]:
    """`(state, detail, line)` of a target's console line that no session holds open; `line`
    is the line settings a terminal server confirmed (rfc2217://)."""
    uri = parse_console_uri(target.console)
    if uri.scheme in ("serial", "pty", "file"):
        if not os.path.exists(uri.path):
            return "unreachable", f"{uri.path} does not exist", ""
        if not os.access(uri.path, os.R_OK if uri.scheme == "file" else os.R_OK | os.W_OK):
            return "unreachable", f"{uri.path}: permission denied", ""
        return "reachable", "", ""
    if uri.scheme == "unix+listen":
        return "closed", "console-tui listens there while the target is open; the VM connects", ""
    if uri.scheme == "ssh":
        return *remotes.line_state(uri.params.get("remote", "")), ""
    if uri.scheme == "listen":  # the VM dials in: there is nothing to dial
        return "waiting", "waiting for the VM to connect (opened under serve)", ""
    # A connection to a line another console-tui holds would sit in QEMU's backlog and look like
    # a free, reachable line.
    claim = LineClaim(target)
    holder = claim.take()
    if holder:
        return "in use", f"in use by {holder} on this machine", ""
    backing = make_backing(uri, baud=target.baud)
    if isinstance(backing, SettableLine):
        backing.wait_for_port = False  # a look, not a session: the port need not open
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await backing.open()
    except (ConsoleError, OSError) as exc:
        return "unreachable", str(exc), ""
    except TimeoutError:
        return "unreachable", f"no answer within {PROBE_TIMEOUT:.0f} s", ""
    finally:
        with contextlib.suppress(Exception):
            await backing.close()
        claim.release()
    return "reachable", "", backing.line if isinstance(backing, SettableLine) else ""


async def probe_power(control: str) -> tuple[str, str]:
    """`(power, trouble)` from a control backing: the power state, or `unknown` and why."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT + 1):
            return await make_control(control).power_state(), ""
    except (ConsoleError, TimeoutError) as exc:
        return "unknown", f"control: {exc}"

"""Is a target there? A quick look at its console line and its control, for `list` and the inventory.

A probe never disturbs a line: a serial port is only looked at (opening one toggles DTR, which resets
some boards), and a one-client line that another console-tui here holds is reported in use, never
dialled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from console_tui.core import hypervisors
from console_tui.core.backings import make_backing, parse_console_uri
from console_tui.core.config import Target
from console_tui.core.control import make_control
from console_tui.core.errors import ConsoleError
from console_tui.core.session import LineClaim

PROBE_TIMEOUT = 3.0


async def probe_console(target: Target) -> tuple[str, str]:
    """`(state, detail)` of a target's console line that no session holds open."""
    uri = parse_console_uri(target.console)
    if uri.scheme == "libvirt" and (missing := hypervisors.missing_library()):
        return "disabled", f"{missing}: {hypervisors.INSTALL_FIX}"
    if uri.scheme in ("serial", "pty"):
        if not os.path.exists(uri.path):
            return "unreachable", f"{uri.path} does not exist"
        if not os.access(uri.path, os.R_OK | os.W_OK):
            return "unreachable", f"{uri.path}: permission denied"
        return "reachable", ""
    # A connection to a line another console-tui holds would sit in QEMU's backlog and look like
    # a free, reachable line.
    claim = LineClaim(target)
    holder = claim.take()
    if holder:
        return "in use", f"in use by {holder} on this machine"
    backing = make_backing(uri, baud=target.baud)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await backing.open()
    except (ConsoleError, OSError) as exc:
        return getattr(exc, "state", "unreachable"), str(exc)
    except TimeoutError:
        return "unreachable", f"no answer within {PROBE_TIMEOUT:.0f} s"
    finally:
        with contextlib.suppress(Exception):
            await backing.close()
        claim.release()
    return "reachable", ""


async def probe_power(control: str) -> tuple[str, str]:
    """`(power, trouble)` from a control backing: the power state, or `unknown` and why."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT + 1):
            return await make_control(control).power_state(), ""
    except (ConsoleError, TimeoutError) as exc:
        return "unknown", f"control: {exc}"

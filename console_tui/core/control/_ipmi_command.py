"""One IPMI command in a child process: `python -m console_tui.core.control._ipmi_command`.

pyghmi shares one session per (host, user, password, port) in a process, and a command session
beside a live SOL console of the same login hangs; so every control action runs here, apart from
the console. The request (with the password) comes on stdin as JSON, never on the command line;
the answer goes to stdout as JSON: {"ok": result} or {"error": words, "code": completion code}.
"""

from __future__ import annotations

import json
import sys
from typing import Any

CHASSIS_CONTROL = {"off": 0, "on": 1, "cycle": 2, "reset": 3, "diag": 4, "soft-off": 5}
"""Chassis Control (netfn 0, command 2) codes, by the names the app uses."""
BOOT_DEVICES = {"setup": "setup", "pxe": "network", "disk": "hd"}


def run(request: dict[str, Any]) -> Any:
    """Do one request against the BMC; return its result or raise pyghmi's exception."""
    from pyghmi.ipmi import command

    ipmi = command.Command(
        bmc=request["host"],
        userid=request["user"],
        password=request["password"],
        port=int(request["port"]),
    )
    try:
        op, arg = request["op"], request.get("arg", "")
        if op == "status":
            return ipmi.get_power()["powerstate"]
        if op == "chassis":
            ipmi.xraw_command(netfn=0, command=2, data=(CHASSIS_CONTROL[arg],))
            return arg
        if op == "bootdev":
            result = ipmi.set_bootdev(BOOT_DEVICES[arg], persist=False)
            if isinstance(result, dict) and "error" in result:
                raise RuntimeError(result["error"])
            return arg
        if op == "sol-deactivate":
            return end_sol(ipmi)
        raise ValueError(f"unknown IPMI request {op!r}")
    finally:
        ipmi.ipmi_session.logout()


def end_sol(ipmi: Any) -> str:
    """End another session's SOL: Deactivate Payload; where the BMC lets only the owner do that
    (completion code 0x80, as ipmi_sim), close the other sessions on the BMC instead."""
    from pyghmi.exceptions import IpmiException

    try:
        ipmi.xraw_command(netfn=6, command=0x49, data=(1, 1, 0, 0, 0, 0))
        return "deactivated"
    except IpmiException as exc:
        if exc.ipmicode != 0x80:
            raise
    own = bytes(ipmi.xraw_command(netfn=6, command=0x3D, data=(0,))["data"])[0]
    active = bytes(ipmi.xraw_command(netfn=6, command=0x3D, data=(0,))["data"])[2] & 0x3F
    closed = 0
    for index in range(1, active + 1):
        handle = bytes(ipmi.xraw_command(netfn=6, command=0x3D, data=(index,))["data"])[0]
        if handle != own:
            ipmi.xraw_command(netfn=6, command=0x3C, data=(0, 0, 0, 0, handle))
            closed += 1
    return f"closed {closed} other session(s)"


def main() -> int:
    try:
        request = json.loads(sys.stdin.read())
        answer: dict[str, Any] = {"ok": run(request)}
    except Exception as exc:  # every failure goes back to the parent in words
        answer = {"error": str(exc) or type(exc).__name__, "code": getattr(exc, "ipmicode", 0)}
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())

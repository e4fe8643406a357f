"""A simulated BMC for the demo guest: OpenIPMI's `ipmi_sim` on loopback UDP managing a QEMU.

`ipmi_sim` answers IPMI over LAN (lanplus) and serves Serial-over-LAN from the guest's serial line;
"power on" runs QEMU on the lab's kernel and initramfs, which talks back to the simulator through
`ipmi-bmc-extern` so power off, reset and the boot override reach the machine. Every file lives in
one private folder; the simulator is stopped by its PID (and takes its QEMU with it).
"""

from __future__ import annotations

import select
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from console_tui.core import paths
from console_tui.lab.guest import KERNEL_CMDLINE, Lab, LabError, _signal, _wait_gone
from console_tui.lab.initramfs import build_initramfs

USER = "admin"
EMULATOR = "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n"


@dataclass(frozen=True)
class BMCInfo:
    """How to reach a running simulated BMC."""

    folder: Path
    pid: int
    port: int
    user: str
    password_file: Path
    serial_log: Path

    @property
    def console_uri(self) -> str:
        return f"ipmi-sol://{self.user}@127.0.0.1:{self.port}"

    @property
    def control_uri(self) -> str:
        return f"ipmi://{self.user}@127.0.0.1:{self.port}"


class SimulatedBMC:
    """`ipmi_sim` with the demo guest as its machine, kept in `folder`."""

    def __init__(self, folder: Path, *, password: str = "lab-secret-0") -> None:
        self.folder = folder
        self.password = password
        self.lab = Lab(folder / "guest")
        self.process: subprocess.Popen[bytes] | None = None
        self.relay: subprocess.Popen[bytes] | None = None

    def up(self) -> BMCInfo:
        """Start the simulator (the machine stays off until powered on)."""
        qemu, kernel, busybox = self.lab._find_tools()
        paths.private_dir(self.folder)
        paths.private_dir(self.lab.folder)
        initramfs = self.lab.initramfs
        with paths.open_private(initramfs, "wb") as out:
            out.write(build_initramfs(busybox))
        lan_port, sol_port, qemu_port = _free_port(socket.SOCK_DGRAM), _free_port(), _free_port()
        serial_log = self.folder / "serial.log"
        monitor = self.folder / "monitor.sock"
        qemu_command = shlex.join(
            [
                qemu,
                *("-accel", "tcg", "-cpu", "max", "-m", "256", "-nodefaults"),
                *("-display", "none", "-vga", "none"),
                *("-kernel", str(kernel), "-initrd", str(initramfs), "-append", KERNEL_CMDLINE),
                "-chardev",
                f"socket,id=ser0,host=127.0.0.1,port={qemu_port},server=on,wait=off,telnet=on,"
                f"logfile={serial_log},logappend=on",
                *("-serial", "chardev:ser0"),
                *("-monitor", f"unix:{monitor},server=on,wait=off"),
                *("-daemonize", "-pidfile", str(self.folder / "qemu.pid")),
            ]
        )
        chassis = self.folder / "chassis-control"
        with paths.open_private(chassis, "w") as out:
            out.write(_chassis_control(qemu_command, self.folder, monitor))
        chassis.chmod(0o700)
        password_file = self.folder / "bmc-password"
        with paths.open_private(password_file, "w") as out:
            out.write(self.password + "\n")
        lan_conf = self.folder / "lan.conf"
        with paths.open_private(lan_conf, "w") as out:
            out.write(_lan_conf(lan_port, sol_port, chassis, self.password))
        emulator = self.folder / "sim.emu"
        with paths.open_private(emulator, "w") as out:
            out.write(EMULATOR)
        # A BMC's serial port is there while the machine is off; QEMU's is not. lab/uart.py
        # stands for the port, so SOL activated before power-on, or kept across a power cycle,
        # still shows the boot.
        self.relay = subprocess.Popen(
            [sys.executable, "-m", "console_tui.lab.uart", str(sol_port), str(qemu_port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        _wait_line(self.relay, "listening", where=f"127.0.0.1:{sol_port}")
        log = paths.open_private(self.folder / "ipmi_sim.log", "wb")
        try:
            self.process = subprocess.Popen(
                [
                    "ipmi_sim",
                    "-c",
                    str(lan_conf),
                    "-f",
                    str(emulator),
                    "-n",
                    "-s",
                    str(self.folder),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise LabError(
                "ipmi_sim is not installed", where="PATH", fix="apt-get install openipmi"
            ) from None
        finally:
            log.close()
        self._wait_listening(lan_port)
        return BMCInfo(self.folder, self.process.pid, lan_port, USER, password_file, serial_log)

    def down(self) -> None:
        """Stop the machine's QEMU (by the PID in its pidfile: it daemonizes into a session of
        its own) and the simulator (by its PID)."""
        _stop(_pid_in(self.folder / "qemu.pid"))
        if self.process is not None:
            _stop(self.process.pid, self.process)
            self.process = None
        if self.relay is not None:
            _stop(self.relay.pid, self.relay)
            self.relay = None

    def _wait_listening(self, port: int) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                log = (self.folder / "ipmi_sim.log").read_text(errors="replace")
                raise LabError(f"ipmi_sim exited: {log.strip()[-400:]}", where=str(self.folder))
            if _udp_bound(port):
                return
            time.sleep(0.05)
        raise LabError("ipmi_sim did not open its LAN port", where=f"127.0.0.1:{port}")


def _lan_conf(lan_port: int, sol_port: int, chassis: Path, password: str) -> str:
    auths = "none md2 md5 straight"
    return f"""name "console-tui-lab"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {lan_port}
    priv_limit admin
    allowed_auths_callback {auths}
    allowed_auths_user {auths}
    allowed_auths_operator {auths}
    allowed_auths_admin {auths}
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{chassis}"
  sol "telnet:127.0.0.1:{sol_port}" 115200
  user 1 true "" "unused-anonymous" user 10 {auths}
  user 2 true "{USER}" "{password}" admin 10 {auths}
"""


def _chassis_control(qemu_command: str, folder: Path, monitor: Path) -> str:
    """ipmi_sim's hardware interface (`chassis_control` in lan.conf) for a QEMU machine: it is run
    as `PROG get NAME...` (answering `NAME:VALUE` lines) or `PROG set NAME VALUE`."""
    pidfile = shlex.quote(str(folder / "qemu.pid"))
    bootfile = shlex.quote(str(folder / "boot-override"))
    hmp = f"socat - UNIX-CONNECT:{shlex.quote(str(monitor))} >/dev/null 2>&1"
    return f"""#!/bin/sh
alive() {{ [ -f {pidfile} ] && kill -0 "$(cat {pidfile})" 2>/dev/null; }}
case $1 in get|set) ;; *) shift ;; esac
op=$1; shift
if [ "$op" = get ]; then
  for name in "$@"; do
    case $name in
      power) if alive; then echo power:1; else echo power:0; fi ;;
      boot) if [ -s {bootfile} ]; then echo "boot:$(cat {bootfile})"; else echo boot:default; fi ;;
      *) echo "$name:0" ;;
    esac
  done
  exit 0
fi
case "$1:$2" in
  power:1) alive || {qemu_command} ;;
  power:0) if alive; then kill "$(cat {pidfile})"; fi; rm -f {pidfile} ;;
  reset:*) alive && (echo system_reset; sleep 0.3) | {hmp} ;;
  shutdown:*) alive && (echo system_powerdown; sleep 0.3) | {hmp} ;;
  boot:*) echo "$2" > {bootfile} ;;
esac
exit 0
"""


def _wait_line(process: subprocess.Popen[bytes], line: str, *, where: str) -> None:
    """Until `process` prints `line` (10 s at most)."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 10)
    said = process.stdout.readline().decode(errors="replace").strip() if ready else ""
    process.stdout.close()
    if said != line:
        raise LabError(
            f"the lab's serial relay did not start ({said or 'no word in 10 s'})", where=where
        )


def _free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _udp_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def _pid_in(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _stop(pid: int | None, process: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM, then SIGKILL after 5 s, to one process of ours."""
    if pid is None:
        return
    _signal(pid, signal.SIGTERM)
    if process is not None:
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            _signal(pid, signal.SIGKILL)
            process.wait(5)
    elif not _wait_gone(pid, 5.0):
        _signal(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)

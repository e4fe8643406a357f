"""A private libvirt daemon with the demo guest as a domain, and a loopback sshd in front of it,
for the tests and benchmarks.

The daemon is a session `libvirtd` run as the unprivileged `nobody` user with its own runtime,
config and cache folders in one temp folder, so several can run on one machine at once and none
touches the system's libvirt; root reaches it through `qemu:///session?socket=...`. It is stopped
by its PID. The domain is a `type='qemu'` machine booting the demo kernel and initramfs with a pty
serial console.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

from console_tui.lab.guest import KERNEL_CMDLINE, _static_busybox, newest_kernel
from console_tui.lab.initramfs import READY_LINE, build_initramfs

NOBODY = 65534
DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='custom'><model>qemu64</model></cpu>
  <devices>
    <emulator>{emulator}</emulator>
    <serial type='pty'><log file='{log}' append='on'/><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>
"""


class LibvirtLab:
    """A session libvirtd of its own (as `nobody`), started and stopped by PID."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="console-tui-libvirt-"))
        self.runtime = self.root / "run"
        self.pidfile = self.runtime / "libvirtd.pid"
        self.socket = self.runtime / "libvirt" / "libvirt-sock"
        self.pid = 0

    @property
    def uri(self) -> str:
        return f"qemu:///session?socket={self.socket}"

    def _env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(self.root / "home"),
            "XDG_RUNTIME_DIR": str(self.runtime),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_CACHE_HOME": str(self.root / "cache"),
            "XDG_DATA_HOME": str(self.root / "data"),
        }

    def start(self, timeout: float = 30) -> None:
        for folder in ("home", "run", "config/libvirt", "cache", "data", "logs"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        # Console output to files, not virtlogd: the session daemon needs no other daemon.
        (self.root / "config/libvirt/qemu.conf").write_text('stdio_handler = "file"\n')
        kernel, busybox = newest_kernel(), _static_busybox()
        if kernel is None or busybox is None:
            raise RuntimeError("the demo guest needs a kernel in /boot and busybox-static")
        self.kernel = kernel
        self.initrd = self.root / "initrd.gz"
        self.initrd.write_bytes(build_initramfs(busybox))
        for path in self.root.rglob("*"):
            os.chown(path, NOBODY, NOBODY)
        os.chown(self.root, NOBODY, NOBODY)
        self.root.chmod(0o755)
        self.initrd.chmod(0o644)
        self.runtime.chmod(0o700)
        subprocess.run(
            [
                "setpriv",
                f"--reuid={NOBODY}",
                f"--regid={NOBODY}",
                "--clear-groups",
                "libvirtd",
                "-d",
                "-p",
                str(self.pidfile),
            ],
            env=self._env(),
            check=True,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while not (self.socket.exists() and self.pidfile.exists()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"libvirtd did not come up in {self.root}")
            time.sleep(0.05)
        self.pid = int(self.pidfile.read_text().strip() or 0)

    def domain_xml(self, name: str) -> str:
        return DOMAIN_XML.format(
            name=escape(name),
            kernel=escape(str(self.kernel)),
            initrd=escape(str(self.initrd)),
            cmdline=escape(KERNEL_CMDLINE),
            log=escape(str(self.serial_log(name))),
            emulator=shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64",
        )

    def virsh(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            ["virsh", "-c", self.uri, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"virsh {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def create(self, name: str, *, wait: bool = True) -> None:
        """Define the demo guest as domain `name` and start it; with wait, until it is ready."""
        xml = self.root / f"{name}.xml"
        xml.write_text(self.domain_xml(name))
        self.virsh("define", str(xml))
        self.virsh("start", name)
        if wait:
            self.wait_for(name, READY_LINE)

    def serial_log(self, name: str) -> Path:
        """Where libvirt keeps everything domain `name` printed on its serial console."""
        return self.root / "logs" / f"{name}.serial.log"

    def wait_for(self, name: str, text: str, *, start: int = 0, timeout: float = 60) -> int:
        """Wait until the serial log shows `text` after byte `start`; the offset after it."""
        log = self.serial_log(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = log.read_bytes() if log.exists() else b""
            found = data.find(text.encode(), start)
            if found >= 0:
                return found + len(text)
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not print {text!r} within {timeout:.0f} s")

    def log_size(self, name: str) -> int:
        log = self.serial_log(name)
        return log.stat().st_size if log.exists() else 0

    def stop(self) -> None:
        """Stop the daemon and its domains (by their PIDs), and remove the folder."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            for name in self.virsh("list", "--name").split():
                self.virsh("destroy", name)
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _alive(self.pid):
                time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


class LoopbackSSHD:
    """OpenSSH's sshd on loopback with its own config, host key and one throwaway client key
    allowed in; started and stopped by PID."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.client_key = folder / "client_key"
        self.pidfile = folder / "sshd.pid"
        for key in (folder / "host_key", self.client_key):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
            )
        (folder / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        (folder / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1:{self.port}\nHostKey {folder}/host_key\n"
            f"PidFile {self.pidfile}\nAuthorizedKeysFile {folder}/authorized_keys\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        )

    def start(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        self.pidfile.unlink(missing_ok=True)
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        config_file, log = self.folder / "sshd_config", self.folder / "sshd.log"
        subprocess.run([sshd, "-f", str(config_file), "-E", str(log)], check=True)
        _wait(self.pidfile.exists, "sshd's pid file")

    def stop(self) -> None:
        if self.pidfile.exists():
            pid = int(self.pidfile.read_text())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            _wait(lambda: not _alive(pid), "sshd to stop")

    def uri(self, lab: LibvirtLab) -> str:
        """`lab`'s daemon through this sshd, as root with the throwaway key."""
        socket_path = lab.socket
        return (
            f"qemu+ssh://root@127.0.0.1:{self.port}/session?socket={socket_path}"
            f"&keyfile={self.client_key}&no_verify=1"
        )


def _wait(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True

"""The demo guest's QEMU: start it on the host's kernel and the built initramfs, wait for its ready
line, stop it, and write the config that opens it.

QEMU runs without `-no-reboot`, so a panic (panic=1) or a reset boots the guest again; `boot` puts
SeaBIOS or OVMF and GRUB (bootloader.py) in front of the kernel. (Just past
400 lines: starting, waiting for and stopping one QEMU read as one story.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from console_tui.core import config as config_mod
from console_tui.core import paths
from console_tui.core.control import ControlURI
from console_tui.core.control.qmp import QMPControl
from console_tui.core.errors import ConsoleError, UnreachableError
from console_tui.lab import bootloader
from console_tui.lab.bootloader import BOOT_MODES
from console_tui.lab.initramfs import READY_LINE, TARGET_NAME, build_initramfs

DEBIAN_PACKAGES = "qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio"
KERNEL_ENV = "CONSOLE_TUI_LAB_KERNEL"
KERNEL_GLOB = "vmlinuz-*-cloud-amd64"
KERNEL_CMDLINE = "console=ttyS0,115200 panic=1 loglevel=7 8250.nr_uarts=1 mitigations=off"
SOCKET_PATH_MAX = 107

T = TypeVar("T")


class LabError(UnreachableError):
    """The demo guest cannot start: a missing package, a bad path, or a boot that never finished."""


@dataclass(frozen=True)
class LabInfo:
    """Where a running demo guest is and how to reach it."""

    folder: Path
    pid: int
    serial_socket: Path
    qmp_socket: Path
    admin_qmp_socket: Path
    serial_log: Path
    config_path: Path
    target_name: str
    console_uri: str
    control_uri: str
    boot_seconds: float


class Lab:
    """One demo guest, kept in `folder`: sockets, serial log, pidfile, initramfs and config."""

    def __init__(
        self,
        folder: Path | None = None,
        *,
        kernel: Path | None = None,
        qemu: str = "qemu-system-x86_64",
        busybox: Path | None = None,
        serial: str = "",
        boot: str = "direct",
        image_cache: Path | None = None,
    ) -> None:
        if boot not in BOOT_MODES:
            raise LabError(
                f"unknown boot mode {boot!r}", where="--boot", fix=f"use one of {BOOT_MODES}"
            )
        self.boot = boot
        """direct (QEMU loads the kernel), grub (SeaBIOS, then GRUB) or uefi (OVMF, then GRUB)."""
        self._image_cache = image_cache
        self.folder = Path(folder) if folder is not None else paths.state_dir() / "lab"
        self._serial = serial
        """The serial chardev's backend and options (`socket,path=...,server=off`) in place of the
        default socket server; the serial log is kept either way."""
        self._kernel = kernel
        self._qemu = qemu
        self._busybox = busybox
        self.serial_socket = self.folder / "serial.sock"
        self.qmp_socket = self.folder / "qmp.sock"
        self.admin_qmp_socket = self.folder / "qmp-admin.sock"
        """A second monitor for the lab itself and tests: `serve` holds the first one."""
        self.serial_log = self.folder / "serial.log"
        self.pidfile = self.folder / "qemu.pid"
        self.initramfs = self.folder / "initramfs.cpio.gz"
        self.state_file = self.folder / "lab.json"

    def config_path(self) -> Path:
        return self.folder / "config.toml"

    def status(self) -> LabInfo | None:
        """The running guest's info, or None when no QEMU of this lab is alive."""
        pid = self._live_pid()
        if pid is None or not self.serial_socket.exists() or not self.qmp_socket.exists():
            return None
        try:
            boot_seconds = float(json.loads(self.state_file.read_text())["boot_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            boot_seconds = 0.0
        return self._info(pid, boot_seconds)

    def up(self, timeout: float = 120, *, ready: bool = True) -> LabInfo:
        """Boot the guest and wait for its ready line (not with `ready=False`: QEMU started is
        enough); return the running one if it answers."""
        info = self.status()
        if info is not None:
            if self._answers() and self.running_boot() == self.boot:
                return info
            self.down()
        qemu, kernel, busybox = self._find_tools()
        for path in (self.serial_socket, self.qmp_socket, self.admin_qmp_socket):
            if len(os.fsencode(path)) > SOCKET_PATH_MAX:
                raise LabError(
                    f"socket path too long for a unix socket ({len(str(path))} bytes)",
                    where=str(path),
                    fix="use a shorter lab folder",
                )
        paths.private_dir(self.folder)
        self._remove_runtime_files()
        initramfs = build_initramfs(busybox)
        with paths.open_private(self.initramfs, "wb") as out:
            out.write(initramfs)
        boot_options = self._boot_options(kernel, initramfs)
        with paths.open_private(self.serial_log, "wb"):
            pass
        started = time.monotonic()
        result = subprocess.run(
            self._qemu_command(qemu, boot_options),
            capture_output=True,
            text=True,
            umask=0o077,
            check=False,
        )
        if result.returncode != 0:
            raise LabError(
                f"QEMU did not start: {result.stderr.strip() or f'exit {result.returncode}'}",
                where=qemu,
                fix=f"check the QEMU install (Debian: apt-get install {DEBIAN_PACKAGES})",
            )
        try:
            if ready:
                self.wait_for(READY_LINE, timeout=timeout - (time.monotonic() - started))
        except LabError:
            self.down()
            raise
        boot_seconds = round(time.monotonic() - started, 2)
        with paths.open_private(self.state_file, "w") as out:
            json.dump({"boot_seconds": boot_seconds, "kernel": str(kernel), "boot": self.boot}, out)
        info = self._info(self._live_pid() or 0, boot_seconds)
        self._write_config(info)
        return info

    def down(self) -> None:
        """Stop the guest: QMP `quit`, else SIGTERM (then SIGKILL) to the pidfile's process."""
        pid = self._live_pid()
        if pid is not None:
            try:
                _run_blocking(self._qmp("quit"))
            except ConsoleError:
                _signal(pid, signal.SIGTERM)
            if not _wait_gone(pid, 5.0):
                _signal(pid, signal.SIGKILL)
                _wait_gone(pid, 5.0)
        self._remove_runtime_files()

    def running_boot(self) -> str:
        """How the running guest was booted (a different `--boot` starts it again)."""
        try:
            return str(json.loads(self.state_file.read_text()).get("boot", "direct"))
        except (OSError, ValueError, AttributeError):
            return "direct"

    def _info(self, pid: int, boot_seconds: float) -> LabInfo:
        return LabInfo(
            folder=self.folder,
            pid=pid,
            serial_socket=self.serial_socket,
            qmp_socket=self.qmp_socket,
            admin_qmp_socket=self.admin_qmp_socket,
            serial_log=self.serial_log,
            config_path=self.config_path(),
            target_name=TARGET_NAME,
            console_uri=f"unix://{self.serial_socket}?telnet=1",
            control_uri=f"qmp://{self.qmp_socket}",
            boot_seconds=boot_seconds,
        )

    def _find_tools(self) -> tuple[str, Path, Path]:
        qemu = shutil.which(self._qemu)
        if qemu is None:
            raise LabError(
                f"{self._qemu} is not installed",
                where="PATH",
                fix=f"install the Debian packages: apt-get install {DEBIAN_PACKAGES}",
            )
        kernel = self._kernel or _env_path(KERNEL_ENV) or newest_kernel()
        if kernel is None or not kernel.is_file():
            where = str(kernel) if kernel else f"/boot/{KERNEL_GLOB}"
            raise LabError(
                "no kernel for the demo guest",
                where=where,
                fix=f"apt-get install linux-image-cloud-amd64, or set {KERNEL_ENV} to a bzImage",
            )
        busybox = self._busybox or _static_busybox()
        if busybox is None or not busybox.is_file():
            raise LabError(
                "no statically linked busybox for the demo guest",
                where=str(busybox) if busybox else "/bin/busybox",
                fix="apt-get install busybox-static",
            )
        return qemu, kernel, busybox

    def _boot_options(self, kernel: Path, initramfs: bytes) -> list[str]:
        """How QEMU starts the guest: the kernel directly, or firmware and GRUB from a CD."""
        if self.boot == "direct":
            return [
                "-kernel",
                str(kernel),
                "-initrd",
                str(self.initramfs),
                "-append",
                KERNEL_CMDLINE,
            ]
        image = bootloader.grub_image(kernel, initramfs, KERNEL_CMDLINE, self._image_cache)
        vars_copy = bootloader.firmware_vars(self.folder) if self.boot == "uefi" else None
        return bootloader.boot_arguments(self.boot, image, vars_copy)

    def _qemu_command(self, qemu: str, boot_options: list[str]) -> list[str]:
        serial = _chardev_path(self.serial_socket)
        log = _chardev_path(self.serial_log)
        chardev = self._serial or f"socket,path={serial},server=on,wait=off,telnet=on"
        return [
            qemu,
            "-name",
            f"console-tui-{TARGET_NAME}",
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-m",
            "256",
            "-nodefaults",
            "-display",
            "none",
            "-monitor",
            "none",
            *boot_options,
            "-chardev",
            f"{chardev},id=ser0,logfile={log},logappend=on",
            "-serial",
            "chardev:ser0",
            "-qmp",
            f"unix:{_chardev_path(self.qmp_socket)},server=on,wait=off",
            "-qmp",
            f"unix:{_chardev_path(self.admin_qmp_socket)},server=on,wait=off",
            "-daemonize",
            "-pidfile",
            str(self.pidfile),
        ]

    def wait_for(self, text: str, *, start: int = 0, timeout: float = 60) -> int:
        """Wait until the serial log shows `text` after byte `start`; return the offset after it.

        The log keeps what the guest prints while no client is connected, so this is how to see
        a reboot or a panic without holding the one-client serial socket.
        """
        needle = text.encode()
        deadline = time.monotonic() + timeout
        while True:
            log = self.serial_log.read_bytes()
            found = log.find(needle, start)
            if found >= 0:
                return found + len(needle)
            if self._live_pid() is None:
                raise LabError(
                    f"QEMU exited before the guest printed {text!r}; last lines:\n{_tail(log)}",
                    where=str(self.serial_log),
                    fix="read the serial log's last lines above",
                )
            if time.monotonic() > deadline:
                raise LabError(
                    f"the guest printed no {text!r} in {timeout:.0f} s; last lines:\n{_tail(log)}",
                    where=str(self.serial_log),
                    fix="a loaded machine boots slower: retry with a longer timeout",
                )
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            _run_blocking(self._qmp("query-status"))
        except ConsoleError:
            return False
        return True

    async def _qmp(self, command: str) -> object:
        path = str(self.admin_qmp_socket)
        control = QMPControl(ControlURI(f"qmp://{path}", "qmp", path=path), timeout=3.0)
        return await control.execute(command)

    def _live_pid(self) -> int | None:
        """The pidfile's pid if that process is alive and is this lab's QEMU."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return pid
        return pid if os.fsencode(self.qmp_socket) in cmdline else None

    def _remove_runtime_files(self) -> None:
        for path in (
            self.serial_socket,
            self.qmp_socket,
            self.admin_qmp_socket,
            self.pidfile,
            self.state_file,
        ):
            path.unlink(missing_ok=True)

    def _write_config(self, info: LabInfo) -> None:
        text = (
            "# The console-tui demo guest, written by `console-tui lab up`.\n"
            "[[target]]\n"
            f'name = "{info.target_name}"\n'
            'group = "lab"\n'
            f"console = {json.dumps(info.console_uri)}\n"
            f"control = {json.dumps(info.control_uri)}\n"
            'os = "linux"\n'
            'description = "a tiny Linux under QEMU: root shell, SysRq on, NMI panics"\n'
        )
        with paths.open_private(self.config_path(), "w") as out:
            out.write(text)


def adopt_as_default(lab_config: Path) -> str:
    """Make the README's commands work as typed (`console-tui attach demo`, without --config):
    when the operator has no config at the default place yet, the demo guest's becomes it.
    An existing config is never changed. What happened, in words for the operator."""
    path, named = config_mod.locate(None)
    if not named and not path.exists():
        with paths.open_private(path, "w") as out:
            out.write(lab_config.read_text(encoding="utf-8"))
            out.write("\n# Add your own [[target]] entries below (see README: Config).\n")
        return (
            f"wrote {path} with the {TARGET_NAME} target: `console-tui attach {TARGET_NAME}` works"
        )
    try:
        has_demo = any(t.name == TARGET_NAME for t in config_mod.load(path).targets)
    except ConsoleError:
        has_demo = False
    if has_demo:
        return f"your config {path} has the {TARGET_NAME} target"
    return (
        f"your config {path} has no {TARGET_NAME} target and is left as it is: "
        f"add --config {lab_config}, or copy its [[target]] into yours"
    )


def newest_kernel(boot: Path = Path("/boot")) -> Path | None:
    """The newest Debian cloud kernel in `boot`, by version number."""
    kernels = sorted(boot.glob(KERNEL_GLOB), key=lambda p: _version_key(p.name))
    return kernels[-1] if kernels else None


def _static_busybox() -> Path | None:
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        if Path(candidate).is_file():
            return Path(candidate)
    found = shutil.which("busybox")
    return Path(found) if found else None


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "")
    return Path(value) if value else None


def _version_key(name: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _chardev_path(path: Path) -> str:
    """A path as a QEMU option value: commas doubled."""
    return str(path).replace(",", ",,")


def _tail(log: bytes, lines: int = 15) -> str:
    text = log.decode("utf-8", "replace").replace("\r", "")
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from sync code, even when the caller's thread runs a loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not: a daemonized QEMU may have no parent to reap it)."""
    if Path("/proc/self").exists():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False

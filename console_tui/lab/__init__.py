"""The demo guest: a tiny real Linux under QEMU, with a telnet serial socket and a QMP socket.

`make run`, the tests and the screenshots use it. The kernel is the host's Debian cloud kernel; the
initramfs is built from the statically linked busybox (`initramfs`); `guest` runs QEMU on them and
writes the config that opens the guest in console-tui. It is tooling around the app, not part of
the console engine in `core/`, which it uses like any other client.
"""

from __future__ import annotations

from console_tui.lab.guest import (
    DEBIAN_PACKAGES,
    KERNEL_ENV,
    Lab,
    LabError,
    LabInfo,
    adopt_as_default,
    newest_kernel,
)
from console_tui.lab.initramfs import INIT_SCRIPT, READY_LINE, TARGET_NAME, build_initramfs

__all__ = [
    "DEBIAN_PACKAGES",
    "INIT_SCRIPT",
    "KERNEL_ENV",
    "READY_LINE",
    "TARGET_NAME",
    "Lab",
    "LabError",
    "LabInfo",
    "adopt_as_default",
    "build_initramfs",
    "newest_kernel",
]

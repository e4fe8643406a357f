"""The demo guest's boot image: a gzip'd cpio initramfs around the host's static busybox.

Its `/init` enables SysRq and panics on an unknown NMI, prints `READY_LINE`, and keeps a root shell
on ttyS0.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable
from pathlib import Path

READY_LINE = "console-tui demo guest ready"
TARGET_NAME = "demo"

INIT_SCRIPT = f"""#!/bin/sh
/bin/busybox --install -s
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
echo 1 > /proc/sys/kernel/sysrq
echo 1 > /proc/sys/kernel/unknown_nmi_panic
hostname {TARGET_NAME}
printf '\\n%s\\n' '{READY_LINE}'
while true; do setsid cttyhack sh -l; done
"""

PROFILE = """export HOME=/root
export PS1='\\h:\\w\\$ '
cd /root
"""


def build_initramfs(busybox: Path) -> bytes:
    """A gzip'd cpio (newc) archive: busybox, `/bin/sh`, `/init`, `/etc/profile`, /dev/console."""
    entries: list[tuple[str, int, bytes, tuple[int, int]]] = []
    for folder in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "etc"):
        entries.append((folder, 0o040755, b"", (0, 0)))
    entries += [
        ("root", 0o040700, b"", (0, 0)),
        ("tmp", 0o041777, b"", (0, 0)),
        ("dev/console", 0o020600, b"", (5, 1)),
        ("bin/busybox", 0o100755, busybox.read_bytes(), (0, 0)),
        ("bin/sh", 0o120777, b"busybox", (0, 0)),
        ("init", 0o100755, INIT_SCRIPT.encode(), (0, 0)),
        ("etc/profile", 0o100644, PROFILE.encode(), (0, 0)),
        ("etc/hostname", 0o100644, f"{TARGET_NAME}\n".encode(), (0, 0)),
        ("etc/passwd", 0o100644, b"root:x:0:0:root:/root:/bin/sh\n", (0, 0)),
        ("etc/group", 0o100644, b"root:x:0:\n", (0, 0)),
    ]
    return gzip.compress(_cpio_newc(entries), compresslevel=6, mtime=0)


def _cpio_newc(entries: Iterable[tuple[str, int, bytes, tuple[int, int]]]) -> bytes:
    out = io.BytesIO()

    def pad() -> None:
        out.write(b"\0" * (-out.tell() % 4))

    def member(ino: int, name: str, mode: int, data: bytes, rdev: tuple[int, int]) -> None:
        encoded = name.encode() + b"\0"
        nlink = 2 if mode & 0o170000 == 0o040000 else 1
        fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        out.write(b"070701" + b"".join(b"%08X" % value for value in fields))
        out.write(encoded)
        pad()
        out.write(data)
        pad()

    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        member(ino, name, mode, data, rdev)
    member(0, "TRAILER!!!", 0, b"", (0, 0))
    return out.getvalue()

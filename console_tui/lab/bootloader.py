"""The demo guest behind a boot loader: a GRUB image (`grub-mkrescue`) that boots the same kernel
and initramfs on BIOS (SeaBIOS) and on UEFI (OVMF), with its menu on the serial line.

The image is cached by the hash of what goes into it, so a second `lab up --boot grub` (or a second
test module) reuses it instead of running `grub-mkrescue` again.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from console_tui.core import paths
from console_tui.core.errors import UnreachableError

BOOT_MODES = ("direct", "grub", "uefi")
GRUB_PACKAGES = "grub-pc-bin grub-efi-amd64-bin grub-common xorriso mtools"
OVMF_PACKAGE = "ovmf"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS.fd")
MENU_TIMEOUT = 5
"""Seconds GRUB waits on its menu before booting the first entry: long enough to catch it."""
SECOND_ENTRY_ARG = "lab.entry=second"
"""The kernel argument only the second menu entry carries, so a test can tell which one booted."""
THIRD_ENTRY_ARG = "lab.entry=third"
"""The third entry is shaped like Debian's: modules and messages before its `linux` line."""
MENU_TITLES = (
    "console-tui demo guest",
    "console-tui demo guest (second entry)",
    "console-tui demo guest (Debian-style entry)",
)


class BootImageError(UnreachableError):
    """The GRUB image cannot be built: a missing tool or a failing `grub-mkrescue`."""


def grub_cfg(cmdline: str, timeout: int = MENU_TIMEOUT) -> str:
    """The menu: serial console on BIOS, the firmware console on EFI (GRUB's own serial driver
    loses keys under OVMF), three entries that differ by one kernel argument."""
    first, second, third = MENU_TITLES
    return (
        "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1\n"
        'if [ "$grub_platform" = "efi" ]; then\n'
        "  terminal_input console\n"
        "  terminal_output console\n"
        "else\n"
        "  terminal_input serial\n"
        "  terminal_output serial\n"
        "fi\n"
        f"set timeout={timeout}\n"
        "set default=0\n"
        f"menuentry '{first}' {{\n"
        f"  linux /boot/vmlinuz {cmdline}\n"
        "  initrd /boot/initrd.gz\n"
        "}\n"
        f"menuentry '{second}' {{\n"
        f"  linux /boot/vmlinuz {cmdline} {SECOND_ENTRY_ARG}\n"
        "  initrd /boot/initrd.gz\n"
        "}\n"
        f"menuentry '{third}' {{\n"
        "  insmod gzio\n"
        "  insmod part_msdos\n"
        "  echo 'Loading Linux ...'\n"
        f"  linux /boot/vmlinuz {cmdline} {THIRD_ENTRY_ARG}\n"
        "  echo 'Loading initial ramdisk ...'\n"
        "  initrd /boot/initrd.gz\n"
        "}\n"
    )


def grub_image(kernel: Path, initramfs: bytes, cmdline: str, cache: Path | None = None) -> Path:
    """The bootable GRUB ISO for this kernel, initramfs and command line, built once and cached."""
    cfg = grub_cfg(cmdline)
    digest = hashlib.sha256()
    for part in (kernel.read_bytes(), initramfs, cfg.encode()):
        digest.update(hashlib.sha256(part).digest())
    folder = paths.private_dir(cache if cache is not None else paths.state_dir() / "lab-images")
    image = folder / f"grub-{digest.hexdigest()[:16]}.iso"
    if image.is_file():
        return image
    mkrescue = shutil.which("grub-mkrescue")
    if mkrescue is None:
        raise BootImageError(
            "grub-mkrescue is not installed",
            where="PATH",
            fix=f"apt-get install --no-install-recommends {GRUB_PACKAGES}",
        )
    with tempfile.TemporaryDirectory(dir=folder) as work:
        tree = Path(work) / "tree"
        (tree / "boot" / "grub").mkdir(parents=True)
        shutil.copyfile(kernel, tree / "boot" / "vmlinuz")
        (tree / "boot" / "initrd.gz").write_bytes(initramfs)
        (tree / "boot" / "grub" / "grub.cfg").write_text(cfg)
        partial = Path(work) / "grub.iso"
        result = subprocess.run(
            [mkrescue, "-o", str(partial), str(tree)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not partial.is_file():
            raise BootImageError(
                f"grub-mkrescue failed: {result.stderr.strip()[-400:] or result.returncode}",
                where=mkrescue,
                fix=f"check the GRUB packages: apt-get install {GRUB_PACKAGES}",
            )
        partial.chmod(0o600)
        partial.replace(image)
    return image


def firmware_vars(folder: Path) -> Path:
    """A writable copy of OVMF's variable store for one guest (the firmware writes to it)."""
    if not OVMF_CODE.is_file() or not OVMF_VARS.is_file():
        raise BootImageError(
            "no OVMF firmware for a UEFI guest",
            where=str(OVMF_CODE),
            fix=f"apt-get install --no-install-recommends {OVMF_PACKAGE}",
        )
    copy = folder / "OVMF_VARS.fd"
    with paths.open_private(copy, "wb") as out:
        out.write(OVMF_VARS.read_bytes())
    return copy


def boot_arguments(boot: str, image: Path, vars_copy: Path | None = None) -> list[str]:
    """QEMU options that boot `image` from a CD: SeaBIOS with its menu on the serial line
    (`graphics=off`), or OVMF's code (read-only) and its variable store."""
    cdrom = ["-drive", f"file={_option(image)},media=cdrom,if=ide,index=2,readonly=on"]
    if boot == "uefi":
        assert vars_copy is not None
        return [
            "-machine",
            "pc,graphics=off",
            "-drive",
            f"if=pflash,format=raw,unit=0,readonly=on,file={_option(OVMF_CODE)}",
            "-drive",
            f"if=pflash,format=raw,unit=1,file={_option(vars_copy)}",
            *cdrom,
        ]
    return ["-machine", "pc,graphics=off", "-boot", "menu=on,splash-time=1500", *cdrom]


def _option(path: Path) -> str:
    return str(path).replace(",", ",,")

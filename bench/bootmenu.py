"""Reset into the boot menu: seconds from the reset action to "menu is up", per firmware and menu.

The demo guest runs behind SeaBIOS + GRUB and behind OVMF + GRUB (QEMU TCG); the Hub resets it
through QMP and holds the menu ROUNDS times per case. Figures are medians with the spread.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from console_tui.core import config
from console_tui.core.hub import Hub
from console_tui.lab import Lab

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
CASES = {"grub": ("grub", "firmware"), "uefi": ("firmware", "grub")}
NAMES = {
    ("grub", "grub"): "SeaBIOS -> GRUB menu",
    ("grub", "firmware"): "SeaBIOS boot menu",
    ("uefi", "grub"): "OVMF -> GRUB menu",
    ("uefi", "firmware"): "OVMF setup",
}


async def _measure(lab: Lab, menus: tuple[str, ...]) -> dict[str, list[float]]:
    info = lab.status()
    assert info is not None
    hub = Hub(config.load(info.config_path))
    figures: dict[str, list[float]] = {menu: [] for menu in menus}
    try:
        viewer = await hub.attach(info.target_name, wait=8)
        for _ in range(ROUNDS):
            for menu in menus:
                started = time.perf_counter()
                await hub.boot_menu(viewer, menu, timeout=120)
                figures[menu].append(time.perf_counter() - started)
    finally:
        await hub.close()
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ctui-bench-", dir="/tmp") as folder:
        cache = Path(folder) / "images"
        for boot, menus in CASES.items():
            lab = Lab(Path(folder) / boot, boot=boot, image_cache=cache)
            lab.up(timeout=240)  # a running machine, as an operator resets one
            print(f"{boot:5} guest")
            try:
                figures = asyncio.run(_measure(lab, menus))
            finally:
                lab.down()
            for menu, seconds in figures.items():
                print(
                    f"  reset -> {NAMES[boot, menu]:22} median {statistics.median(seconds):5.2f} s"
                    f"  (min {min(seconds):.2f}, max {max(seconds):.2f}, {len(seconds)} rounds)"
                )


if __name__ == "__main__":
    main()

"""Run every benchmark module in bench/ that has a `main()`, one after another."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def benchmark_modules() -> list[str]:
    """The names of bench/'s modules, in name order, leaving out private ones."""
    folder = Path(__file__).parent
    return sorted(
        info.name
        for info in pkgutil.iter_modules([str(folder)])
        if not info.name.startswith("_") and not info.ispkg
    )


def main() -> int:
    for name in benchmark_modules():
        module = importlib.import_module(f"bench.{name}")
        run = getattr(module, "main", None)
        if not callable(run):
            continue
        print(f"== bench.{name}", flush=True)
        started = time.perf_counter()
        run()
        print(f"   ({time.perf_counter() - started:.1f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

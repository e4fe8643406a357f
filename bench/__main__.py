"""Run every benchmark module in bench/ that has a `main()`, one after another, each in a Python
process of its own: a figure must not depend on what an earlier benchmark left in the process
(apps, event loops, threads, garbage). A benchmark that fails is named at the end and the run
goes on with the next; the exit code says whether all of them ran."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
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
    failed: list[str] = []
    for name in benchmark_modules():
        module = importlib.import_module(f"bench.{name}")
        if not callable(getattr(module, "main", None)):
            continue
        print(f"== bench.{name}", flush=True)
        started = time.perf_counter()
        ran = subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False)
        print(f"   ({time.perf_counter() - started:.1f} s)\n", flush=True)
        if ran.returncode:
            failed.append(f"bench.{name} (exit {ran.returncode})")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A long run of the property tests of the terminal filter and the attach escape parser.

`make test` runs them with a few examples; this runs many more and prints how long it took.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

EXAMPLES = 5000


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    started = time.perf_counter()
    tests = str(root / "tests" / "test_terminal_filter.py")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "fuzz", tests],
        env={**os.environ, "CONSOLE_TUI_FUZZ_EXAMPLES": str(EXAMPLES)},
        capture_output=True,
        text=True,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    print(f"fuzz, {EXAMPLES} examples per property: {summary}")
    print(f"  {time.perf_counter() - started:.0f} s")
    if result.returncode:
        print(result.stdout[-4000:])

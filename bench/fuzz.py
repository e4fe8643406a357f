"""The property-based tests of tests/test_fuzz.py (telnet codec, hub wire) with many more examples
than `make test` gives them: CONSOLE_TUI_FUZZ_EXAMPLES per property."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = 2000


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_fuzz.py"],
        cwd=root,
        env={**os.environ, "CONSOLE_TUI_FUZZ_EXAMPLES": str(EXAMPLES)},
        capture_output=True,
        text=True,
    )
    lines = done.stdout.strip().splitlines()
    print(f"{EXAMPLES} examples a property: {lines[-1] if lines else 'no output'}", flush=True)
    if done.returncode:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
        raise SystemExit(done.returncode)


if __name__ == "__main__":
    main()

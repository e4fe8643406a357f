"""The property-based tests (the telnet codec and the hub wire in tests/test_fuzz.py, the terminal
filter and the attach escape parser in tests/test_terminal_filter.py) with many more examples than
`make test` gives them: CONSOLE_TUI_FUZZ_EXAMPLES per property."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

EXAMPLES = 2000
FILES = ("tests/test_fuzz.py", "tests/test_terminal_filter.py")


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "CONSOLE_TUI_FUZZ_EXAMPLES": str(EXAMPLES)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *FILES],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = done.stdout.strip().splitlines()
    print(f"{EXAMPLES} examples a property: {lines[-1] if lines else 'no output'}", flush=True)
    print(f"  {time.perf_counter() - started:.0f} s")
    if done.returncode:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
        raise SystemExit(done.returncode)


if __name__ == "__main__":
    main()

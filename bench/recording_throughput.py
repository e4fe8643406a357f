"""What the timed recording costs: console output written to the transcript alone, and to the
transcript with its asciicast recording following it, in 4 KB reads (as a session reads a line).

The input is the console mix of bench/screen_throughput.py (dmesg, colours, redraws, CJK). Files go
to a temporary folder with the default rotation bound; figures are medians of a few runs. For scale:
a serial line at 115200 baud carries 0.01 MB/s.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.screen_throughput import console_mix
from console_tui.core.recording import Recording
from console_tui.core.transcript import Transcript

READ_SIZE = 4096
SIZE = 8_000_000
RUNS = 5


def write_all(folder: Path, data: bytes, *, recorded: bool) -> float:
    """Seconds to write `data` in reads of READ_SIZE, with or without the recording."""
    for old in folder.iterdir():
        old.unlink()
    recording = Recording(folder / "bench.cast") if recorded else None
    transcript = Transcript(folder / "bench.log", follower=recording)
    started = time.perf_counter()
    for start in range(0, len(data), READ_SIZE):
        transcript.write(data[start : start + READ_SIZE])
    elapsed = time.perf_counter() - started
    transcript.close()
    if recording is not None:
        recording.close()
    return elapsed


def main() -> None:
    data = console_mix(SIZE)
    megabytes = len(data) / 1e6
    header = f"{'written to':<24} {'fed':>8} {'runs':>4} {'median':>12} {'range':>17}"
    print(header)
    print("-" * len(header))
    medians = {}
    with tempfile.TemporaryDirectory() as folder:
        for recorded in (False, True):
            rates = [
                megabytes / write_all(Path(folder), data, recorded=recorded) for _ in range(RUNS)
            ]
            label = "transcript + recording" if recorded else "transcript"
            medians[recorded] = statistics.median(rates)
            print(
                f"{label:<24} {megabytes:>6.1f}MB {RUNS:>4} {medians[recorded]:>7.1f} MB/s "
                f"{min(rates):>7.1f}-{max(rates):.1f}",
                flush=True,
            )
    print(f"recording keeps {medians[True] / medians[False]:.0%} of the transcript's rate")


if __name__ == "__main__":
    main()

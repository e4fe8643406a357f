"""Console output to the operator's terminal from a thread of its own (`attach`).

A blocking write per event made the event loop and the terminal take turns: while the terminal
drew, nothing read the console. Here the loop hands bytes over and goes on; the thread writes
them in as few writes as the terminal takes. Past HIGH_WATER bytes waiting, the loop is told to
stop taking output (the viewer's bounded queue then falls back to a fresh snapshot, as for a
slow SSH client) until the terminal is down to LOW_WATER.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

HIGH_WATER = 1 << 20
LOW_WATER = 1 << 16


class TerminalWriter:
    """Writes to `fd` in a thread; `pause` and `resume` are called on the event loop."""

    def __init__(
        self,
        fd: int,
        *,
        pause: Callable[[], None] = lambda: None,
        resume: Callable[[], None] = lambda: None,
    ) -> None:
        self.fd = fd
        self._pause, self._resume = pause, resume
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: list[bytes] = []
        self._waiting = 0
        self._paused = False
        self._closing = False
        self._broken = False
        self._thread = threading.Thread(target=self._run, name="terminal output", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        """Queue `data` for the terminal (never blocks)."""
        with self._lock:
            if self._broken or self._closing:
                return
            self._pending.append(data)
            self._waiting += len(data)
            if self._waiting >= HIGH_WATER and not self._paused:
                self._paused = True
                self._pause()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closing:
                    self._wake.wait()
                if not self._pending:
                    return
                data = b"".join(self._pending)
                self._pending = []
            self._write_all(data)
            with self._lock:
                self._waiting -= len(data)
                if self._paused and self._waiting <= LOW_WATER:
                    self._paused = False
                    self._loop.call_soon_threadsafe(self._resume)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._broken:
            try:
                view = view[os.write(self.fd, view) :]
            except InterruptedError:
                continue
            except OSError:  # the terminal went away: what is left has nowhere to go
                self._broken = True

    def close(self) -> None:
        """Write what is queued, then stop the thread (before the terminal's modes are restored)."""
        with self._lock:
            self._closing = True
            self._wake.notify()
        self._thread.join()

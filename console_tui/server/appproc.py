"""One SSH channel's full-screen app: a child process on a pty it owns as controlling terminal.

The child starts a new session (setsid) and makes the pty its controlling terminal (TIOCSCTTY), so
a window change set on the pty (TIOCSWINSZ) reaches it as SIGWINCH. Signals the server ignores are
reset for it. The one-time hub token goes through an inherited pipe, not argv or the environment.
When the channel closes, the child's whole process group is ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Callable, Sequence

STOP_GRACE = 2.0
READ_SIZE = 65536

_RESET_SIGNALS = tuple(
    getattr(signal, name)
    for name in (
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGPIPE",
        "SIGTERM",
        "SIGCHLD",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGWINCH",
        "SIGUSR1",
        "SIGUSR2",
        "SIGALRM",
        "SIGXFSZ",
    )
    if hasattr(signal, name)
)


def set_window_size(fd: int, columns: int, rows: int, width: int = 0, height: int = 0) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, width, height))


def _become_session_leader() -> None:
    """In the child, before exec: new session, the pty (fd 0) as controlling terminal, signals
    back to their defaults and none blocked. Only async-signal-safe work here."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    for sig in _RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


class AppProcess:
    """The app process of one channel; bytes in with `write`, out through `on_output`."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: dict[str, str],
        columns: int,
        rows: int,
        on_output: Callable[[bytes], None],
    ) -> None:
        self.command = list(command)
        self.env = env
        self.size = (max(columns, 1), max(rows, 1))
        self.on_output = on_output
        self.master = -1
        self.process: asyncio.subprocess.Process | None = None
        self._pending = bytearray()
        self._reading = False
        self._paused = False
        self._eof = asyncio.Event()

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    async def start(self, token: str) -> None:
        master, slave = os.openpty()
        set_window_size(slave, *self.size)
        token_in, token_out = os.pipe()
        try:
            os.write(token_out, token.encode())
            os.close(token_out)
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                "--hub-token-fd",
                str(token_in),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=self.env,
                pass_fds=(token_in,),
                preexec_fn=_become_session_leader,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
            os.close(token_in)
        self.master = master
        os.set_blocking(master, False)
        self._resume_reading()

    # -- output ----------------------------------------------------------------------------

    def _resume_reading(self) -> None:
        if not self._reading and self.master >= 0 and not self._eof.is_set():
            asyncio.get_running_loop().add_reader(self.master, self._readable)
            self._reading = True

    def _stop_reading(self) -> None:
        if self._reading:
            asyncio.get_running_loop().remove_reader(self.master)
            self._reading = False

    def _readable(self) -> None:
        try:
            data = os.read(self.master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            # EIO: every slave fd is closed, the app and its children are gone.
            self._stop_reading()
            self._eof.set()
            return
        self.on_output(data)

    def pause_output(self) -> None:
        """The SSH channel's send buffer is full: stop reading until it drains."""
        self._paused = True
        self._stop_reading()

    def resume_output(self) -> None:
        self._paused = False
        self._resume_reading()

    # -- input and size --------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.master < 0:
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                written = os.write(self.master, self._pending)
                del self._pending[:written]
        except BlockingIOError:
            loop.add_writer(self.master, self._writable)
            return
        except OSError:
            self._pending.clear()
        loop.remove_writer(self.master)

    def _writable(self) -> None:
        self._flush()

    def resize(self, columns: int, rows: int, width: int = 0, height: int = 0) -> None:
        """Set the pty's window size; the kernel sends SIGWINCH to the app."""
        self.size = (max(columns, 1), max(rows, 1))
        if self.master >= 0:
            with contextlib.suppress(OSError):
                set_window_size(self.master, *self.size, width, height)

    # -- end -------------------------------------------------------------------------------

    async def wait(self) -> int:
        """Wait for the app to exit and for its last output; its exit status."""
        assert self.process is not None
        status = await self.process.wait()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                if not self._paused:
                    await self._eof.wait()
        return status

    async def stop(self) -> None:
        """End the app's whole process group: SIGHUP as a closed terminal would, then SIGKILL."""
        process = self.process
        if process is not None and process.returncode is None:
            self._signal_group(signal.SIGHUP)
            self._signal_group(signal.SIGCONT)
            try:
                async with asyncio.timeout(STOP_GRACE):
                    await process.wait()
            except TimeoutError:
                self._signal_group(signal.SIGKILL)
                await process.wait()
        if process is not None:
            # Stragglers the app left in its group (it was the group's leader).
            self._signal_group(signal.SIGKILL)
        self._close_master()

    def _signal_group(self, sig: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)

    def _close_master(self) -> None:
        if self.master >= 0:
            self._stop_reading()
            loop = asyncio.get_running_loop()
            loop.remove_writer(self.master)
            os.close(self.master)
            self.master = -1

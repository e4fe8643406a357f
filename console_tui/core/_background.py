"""A coroutine that runs in the background from `start` until `close`: the watches that hold a
connection to a hypervisor or a QEMU monitor for their events (QMPWatch, LifecycleWatch)."""

from __future__ import annotations

import asyncio
import contextlib


class Background:
    """Runs `_run` as one task of the running loop; `close` cancels it and waits for it."""

    _task: asyncio.Task[None] | None = None

    def _task_name(self) -> str:
        return type(self).__name__

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._task_name())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError

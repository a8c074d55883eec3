"""Writes in flight: up to a fixed number of batch writes at once, each settling its own ledger rows."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class Flight:
    """At most `width` tasks running at once; the first error of one is raised by the next `start` or `land`.

    Each task settles its own work (a batch's ledger rows) before it ends, so whatever stops the writer, every
    batch already sent is settled: on an error, `abandon` waits for the others to land; on cancellation it
    cancels them, as the sequential writer's one request in flight was.
    """

    def __init__(self, width: int) -> None:
        self.width = max(1, width)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Start `work` once fewer than `width` tasks run."""
        try:
            while len(self._tasks) >= self.width:
                await self._one_lands()
        except BaseException:
            work.close()  # never started
            raise
        self._tasks.add(asyncio.ensure_future(work))

    async def land(self) -> None:
        """Wait until every task has ended."""
        while self._tasks:
            await self._one_lands()

    async def abandon(self, *, cancel: bool) -> None:
        """End every task (cancelling them first with `cancel`), their errors left unraised."""
        tasks, self._tasks = self._tasks, set()
        if not tasks:
            return
        if cancel:
            for task in tasks:
                task.cancel()
        await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled():
                task.exception()  # retrieved: the error that stopped the writer is the one raised

    async def _one_lands(self) -> None:
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        self._tasks -= done
        # every error among them retrieved (else asyncio reports it as never retrieved), the first one raised
        failed = [task for task in done if task.cancelled() or task.exception() is not None]
        if failed:
            failed[0].result()

"""Bounded, ordered concurrency for batch processing.

Up to `depth` batches are processed at once (reading, UDF calls overlap), but each batch enters its
ordered stage (writing downstream, calling a sink) only after the previous batch left it, so per-key and
per-partition order survive the overlap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

log = logging.getLogger(__name__)


class Turn:
    """`async with turn:` waits until every earlier batch finished its ordered stage."""

    __slots__ = ("_mine", "_prev")

    def __init__(self, prev: asyncio.Future[None] | None, mine: asyncio.Future[None]) -> None:
        self._prev = prev
        self._mine = mine

    async def __aenter__(self) -> None:
        if self._prev is not None and not self._prev.done():
            await asyncio.shield(self._prev)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def release(self) -> None:
        if not self._mine.done():
            self._mine.set_result(None)


class OrderedPipeline:
    """Runs `job(turn)` coroutines with at most `depth` in flight."""

    def __init__(self, depth: int = 2, name: str = "pipeline") -> None:
        self._sem = asyncio.Semaphore(max(1, depth))
        self._last: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.name = name
        self.failures = 0

    async def submit(self, job: Callable[[Turn], Awaitable[None]]) -> None:
        """Start `job` once a slot is free (waits while `depth` jobs run)."""
        await self._sem.acquire()
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        turn = Turn(self._last, mine)
        self._last = mine
        task = asyncio.create_task(self._run(job, turn), name=self.name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Callable[[Turn], Awaitable[None]], turn: Turn) -> None:
        try:
            await job(turn)
        except Exception:
            # A job handles its own failures (NAK); anything else is a bug worth a loud log line,
            # and the input stays unacked so it is redelivered.
            self.failures += 1
            log.exception("%s: batch failed", self.name)
        finally:
            turn.release()
            self._sem.release()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait for every submitted job."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

"""Ensures of pipelines' ISB objects, run beside the reconciles: at most one in flight per pipeline.

Creating a pipeline's streams, consumers and KV buckets takes a few nats-server round trips in a row,
tens of milliseconds while many pipelines are being created. NumaFlow leaves that work to a job the
reconcile does not wait for; here the reconcile starts it as a task and returns. When the task ends the
pipeline is queued again: that reconcile finds the ensure remembered (nothing to do) or its error (raised
there, so the status says why and the key is retried with back-off, which starts the next attempt).

Before the ISB objects are removed (deletion), an ensure in flight is waited for, so it cannot create
again what the clean-up just deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from numaflux.controller.logs import kv

log = logging.getLogger(__name__)
timing = logging.getLogger("numaflux.controller.timing")


class EnsureTasks:
    """Per pipeline key: the ensure in flight, or the error of the last one until a reconcile takes it."""

    def __init__(self, requeue: Callable[[str], None]) -> None:
        self._requeue = requeue
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._errors: dict[str, BaseException] = {}

    def running(self, key: str) -> bool:
        return key in self._tasks

    def start(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` for ``key``; the caller checked that nothing runs for it."""
        assert key not in self._tasks, f"an ensure of {key} is already running"
        self._errors.pop(key, None)
        task = asyncio.create_task(self._timed(key, work), name=f"ensure-isb-{key}")
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._finished(key, done))

    @staticmethod
    async def _timed(key: str, work: Coroutine[Any, Any, None]) -> None:
        started = time.perf_counter()
        await work
        # beside the reconciles' own times (`--log-reconcile-times`): the work they no longer wait for
        timing.debug(kv("ensured", key=key, seconds=f"{time.perf_counter() - started:.6f}"))

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._errors[key] = error
            log.info(kv("ensuring ISB objects failed", pipeline=key, error=repr(error)))
        self._requeue(key)

    def take_error(self, key: str) -> BaseException | None:
        """The failure of the last ensure of ``key`` (once), None if it succeeded or none ran."""
        return self._errors.pop(key, None)

    async def settle(self, key: str) -> None:
        """Wait for the ensure of ``key`` in flight, if any (its outcome is for the next reconcile)."""
        task = self._tasks.get(key)
        if task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(task)

    def forget(self, key: str) -> None:
        """The pipeline is gone: drop a stale error (an ensure in flight finishes by itself)."""
        self._errors.pop(key, None)

    async def cancel_all(self) -> None:
        """Stop every ensure in flight (leadership lost, shutdown); the next leader ensures again."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

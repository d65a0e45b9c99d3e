"""Ensures of pipelines' ISB objects, run beside the reconciles: at most one in flight per pipeline.

Creating a pipeline's streams, consumers and KV buckets takes a few nats-server round trips in a row,
tens of milliseconds while many pipelines are being created. NumaFlow leaves that work to a job the
reconcile does not wait for; here the reconcile starts it as a task and returns. When the task ends the
pipeline is queued again, and that reconcile finds the ensure remembered (nothing to do) or its failure.

A failure stands until an ensure of the same target succeeds: every reconcile raises it (the status says
why, and the work queue's back-off spaces those reconciles), and the next attempt starts no sooner than
its own back-off (``RETRY_BASE`` doubling per consecutive failure, up to ``RETRY_CAP``). A failure of an
ensure for another target (the ISB service changed) is dropped at once.

Buffers and buckets a topology change dropped stay pending until an ensure that deletes them succeeds, so
a failed or superseded ensure cannot leak them. Before the ISB objects are removed (deletion), an ensure in
flight is waited for, so it cannot create again what the clean-up just deleted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from numaflux.controller.logs import kv

log = logging.getLogger(__name__)
timing = logging.getLogger("numaflux.controller.timing")

RETRY_BASE = 0.5
"""Seconds before the first retry of a failed ensure; doubled per consecutive failure."""
RETRY_CAP = 300.0


@dataclass
class Failure:
    """The last failed ensure of a pipeline: what it was for, how many failed in a row, when to retry."""

    error: BaseException
    target: object
    count: int
    retry_at: float


@dataclass
class PendingDeletes:
    buffers: set[str]
    buckets: set[str]


class EnsureTasks:
    """Per pipeline key: the ensure in flight, the standing failure, the deletes still to make."""

    def __init__(self, requeue: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._requeue = requeue
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._targets: dict[str, object] = {}
        self._failures: dict[str, Failure] = {}
        self._deletes: dict[str, PendingDeletes] = {}

    def running(self, key: str) -> bool:
        return key in self._tasks

    def failure(self, key: str, target: object) -> BaseException | None:
        """The standing failure of ``key`` (until an ensure succeeds); one for another target is dropped."""
        failed = self._failures.get(key)
        if failed is None:
            return None
        if failed.target != target:
            del self._failures[key]
            return None
        return failed.error

    def may_start(self, key: str, now: float) -> bool:
        """Nothing in flight for ``key`` and no failure's back-off still running."""
        failed = self._failures.get(key)
        return key not in self._tasks and (failed is None or now >= failed.retry_at)

    def start(self, key: str, target: object, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (an ensure of ``target``) for ``key``; the caller checked ``may_start``."""
        assert key not in self._tasks, f"an ensure of {key} is already running"
        task = asyncio.create_task(self._timed(key, work), name=f"ensure-isb-{key}")
        self._tasks[key] = task
        self._targets[key] = target
        task.add_done_callback(lambda done: self._finished(key, done))

    @staticmethod
    async def _timed(key: str, work: Coroutine[Any, Any, None]) -> None:
        started = time.perf_counter()
        await work
        # beside the reconciles' own times (`--log-reconcile-times`): the work they no longer wait for
        timing.debug(kv("ensured", key=key, seconds=f"{time.perf_counter() - started:.6f}"))

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is not task:
            return  # cancelled by cancel_all, which cleared the books
        del self._tasks[key]
        target = self._targets.pop(key, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            self._failures.pop(key, None)
        else:
            previous = self._failures.get(key)
            count = previous.count + 1 if previous is not None else 1
            delay = min(RETRY_CAP, RETRY_BASE * 2 ** (count - 1))
            self._failures[key] = Failure(error, target, count, self._clock() + delay)
            log.info(kv("ensuring ISB objects failed", pipeline=key, failures=count, error=repr(error)))
        self._requeue(key)

    def pending_deletes(self, key: str, buffers: Iterable[str], buckets: Iterable[str]) -> PendingDeletes:
        """Add a plan's dropped buffers and buckets to those still to delete for ``key``; all of them."""
        pending = self._deletes.get(key) or PendingDeletes(set(), set())
        pending.buffers.update(buffers)
        pending.buckets.update(buckets)
        if pending.buffers or pending.buckets:
            self._deletes[key] = pending
        return pending

    def deleted(self, key: str, buffers: Iterable[str], buckets: Iterable[str]) -> None:
        """An ensure that deleted these succeeded: no longer pending."""
        pending = self._deletes.get(key)
        if pending is None:
            return
        pending.buffers.difference_update(buffers)
        pending.buckets.difference_update(buckets)
        if not pending.buffers and not pending.buckets:
            del self._deletes[key]

    async def settle(self, key: str) -> None:
        """Wait for the ensure of ``key`` in flight, if any (its outcome is for the next reconcile).

        The task's outcome is not raised here; the caller's own cancellation is."""
        task = self._tasks.get(key)
        if task is not None:
            await asyncio.wait({task})

    def forget(self, key: str) -> None:
        """The pipeline is gone: drop its failure and pending deletes (an ensure in flight just ends)."""
        self._failures.pop(key, None)
        self._deletes.pop(key, None)

    async def cancel_all(self) -> None:
        """Stop every ensure in flight and drop every failure (leadership lost, shutdown): the next term
        starts from what it observes."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._targets.clear()
        self._failures.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

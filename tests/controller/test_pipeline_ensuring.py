"""Ensures run beside the reconciles: one per pipeline at a time, the pipeline queued again when one
ends; a failure stands (for its target) until an ensure succeeds, with its own retry back-off; dropped
buffers stay pending until deleted; a clean-up waits for the ensure in flight; stopping cancels them."""

from __future__ import annotations

import asyncio

from numaflux.controller.pipeline.ensuring import RETRY_BASE, EnsureTasks

KEY = "ns/pl"
TARGET, OTHER = "target-1", "target-2"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def finish(tasks: EnsureTasks, key: str = KEY) -> None:
    await tasks.settle(key)
    await asyncio.sleep(0)  # the done callback


async def ok() -> None:
    return None


async def broken() -> None:
    raise ConnectionError("nats: no servers")


async def test_an_ensure_runs_beside_the_reconcile_and_queues_the_pipeline_when_it_ends() -> None:
    queued: list[str] = []
    tasks = EnsureTasks(queued.append)
    release = asyncio.Event()

    async def work() -> None:
        await release.wait()

    assert tasks.may_start(KEY, 0.0)
    tasks.start(KEY, TARGET, work())
    assert tasks.running(KEY) and not tasks.may_start(KEY, 0.0) and queued == []
    release.set()
    await finish(tasks)
    assert not tasks.running(KEY) and tasks.may_start(KEY, 0.0)
    assert queued == [KEY]
    assert tasks.failure(KEY, TARGET) is None


async def test_a_failure_stands_until_an_ensure_succeeds_and_retries_back_off() -> None:
    clock = Clock()
    queued: list[str] = []
    tasks = EnsureTasks(queued.append, clock=clock)
    tasks.start(KEY, TARGET, broken())
    await finish(tasks)
    assert queued == [KEY]
    error = tasks.failure(KEY, TARGET)
    assert isinstance(error, ConnectionError) and str(error) == "nats: no servers"
    assert tasks.failure(KEY, TARGET) is error  # every reconcile sees it, not only the first
    # no new attempt before the back-off, then one; a second failure doubles the wait
    assert not tasks.may_start(KEY, clock.now)
    assert tasks.may_start(KEY, clock.now + RETRY_BASE)
    tasks.start(KEY, TARGET, broken())
    await finish(tasks)
    assert not tasks.may_start(KEY, clock.now + RETRY_BASE)
    assert tasks.may_start(KEY, clock.now + 2 * RETRY_BASE)
    tasks.start(KEY, TARGET, ok())
    await finish(tasks)
    assert tasks.failure(KEY, TARGET) is None and tasks.may_start(KEY, clock.now)


async def test_a_failure_for_another_target_is_dropped() -> None:
    tasks = EnsureTasks(lambda key: None)
    tasks.start(KEY, TARGET, broken())
    await finish(tasks)
    assert tasks.failure(KEY, OTHER) is None  # e.g. the ISB service was replaced meanwhile
    assert tasks.failure(KEY, TARGET) is None
    assert tasks.may_start(KEY, 0.0)


async def test_dropped_buffers_stay_pending_until_an_ensure_deletes_them() -> None:
    tasks = EnsureTasks(lambda key: None)
    assert tasks.pending_deletes(KEY, [], []).buffers == set()
    pending = tasks.pending_deletes(KEY, ["b-c-0"], ["b-c-out"])
    assert pending.buffers == {"b-c-0"} and pending.buckets == {"b-c-out"}
    # a later pass no longer sees them in its plan: still pending
    later = tasks.pending_deletes(KEY, [], [])
    assert later.buffers == {"b-c-0"} and later.buckets == {"b-c-out"}
    tasks.deleted(KEY, ["b-c-0"], ["b-c-out"])
    assert tasks.pending_deletes(KEY, [], []).buffers == set()


async def test_settle_waits_for_the_ensure_in_flight_without_raising_its_error() -> None:
    tasks = EnsureTasks(lambda key: None)
    steps: list[str] = []

    async def work() -> None:
        await asyncio.sleep(0.01)
        steps.append("ensured")
        raise ConnectionError("late failure")

    tasks.start(KEY, TARGET, work())
    await tasks.settle(KEY)
    steps.append("cleaned up")
    assert steps == ["ensured", "cleaned up"]
    await tasks.settle("ns/other")  # nothing in flight: returns at once


async def test_stopping_cancels_every_ensure_and_drops_failures_without_queueing() -> None:
    queued: list[str] = []
    tasks = EnsureTasks(queued.append)
    tasks.start("ns/failed", TARGET, broken())
    await finish(tasks, "ns/failed")
    queued.clear()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    tasks.start(KEY, TARGET, forever())
    await started.wait()
    await tasks.cancel_all()
    await asyncio.sleep(0)
    assert not tasks.running(KEY) and queued == []
    assert tasks.failure(KEY, TARGET) is None
    assert tasks.failure("ns/failed", TARGET) is None  # a new term starts from what it observes

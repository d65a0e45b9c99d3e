"""Ensures run beside the reconciles: one per pipeline at a time, the pipeline queued again when one
ends, its error handed to exactly one later reconcile, waited for before a clean-up, cancelled on stop."""

from __future__ import annotations

import asyncio

from numaflux.controller.pipeline.ensuring import EnsureTasks

KEY = "ns/pl"


async def test_an_ensure_runs_beside_the_reconcile_and_queues_the_pipeline_when_it_ends() -> None:
    queued: list[str] = []
    tasks = EnsureTasks(queued.append)
    release = asyncio.Event()

    async def work() -> None:
        await release.wait()

    tasks.start(KEY, work())
    assert tasks.running(KEY) and queued == []
    release.set()
    await tasks.settle(KEY)
    await asyncio.sleep(0)  # the done callback
    assert not tasks.running(KEY)
    assert queued == [KEY]
    assert tasks.take_error(KEY) is None


async def test_a_failed_ensure_hands_its_error_to_one_reconcile() -> None:
    queued: list[str] = []
    tasks = EnsureTasks(queued.append)

    async def work() -> None:
        raise ConnectionError("nats: no servers")

    tasks.start(KEY, work())
    await tasks.settle(KEY)  # an error is for the next reconcile, not for whoever waits
    await asyncio.sleep(0)
    assert queued == [KEY]
    error = tasks.take_error(KEY)
    assert isinstance(error, ConnectionError) and str(error) == "nats: no servers"
    assert tasks.take_error(KEY) is None
    # a new attempt clears an error nobody took; forgetting the pipeline does too
    tasks.start(KEY, work())
    await tasks.settle(KEY)
    await asyncio.sleep(0)
    tasks.forget(KEY)
    assert tasks.take_error(KEY) is None


async def test_settle_waits_for_the_ensure_in_flight() -> None:
    tasks = EnsureTasks(lambda key: None)
    steps: list[str] = []

    async def work() -> None:
        await asyncio.sleep(0.01)
        steps.append("ensured")

    tasks.start(KEY, work())
    await tasks.settle(KEY)
    steps.append("cleaned up")
    assert steps == ["ensured", "cleaned up"]
    await tasks.settle("ns/other")  # nothing in flight: returns at once


async def test_stopping_cancels_every_ensure_in_flight_without_queueing() -> None:
    queued: list[str] = []
    tasks = EnsureTasks(queued.append)
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    tasks.start(KEY, forever())
    tasks.start("ns/other", forever())
    await started.wait()
    await tasks.cancel_all()
    await asyncio.sleep(0)
    assert not tasks.running(KEY) and not tasks.running("ns/other")
    assert queued == []
    assert tasks.take_error(KEY) is None

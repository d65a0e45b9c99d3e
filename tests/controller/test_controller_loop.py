"""The reconcile contract as the Controller honours it: outcomes → queue behaviour; one worker per key."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from numaflux.controller import Controller, ExponentialBackoff, ManualClock, Result, TerminalError, WorkQueue


class Scripted:
    """Returns (or raises) the queued outcomes in order; records concurrency per key."""

    def __init__(self, *outcomes: Result | BaseException) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[str] = []
        self.running: dict[str, int] = defaultdict(int)
        self.max_parallel_same_key = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def reconcile(self, key: str) -> Result:
        self.calls.append(key)
        self.running[key] += 1
        self.max_parallel_same_key = max(self.max_parallel_same_key, self.running[key])
        try:
            await self.gate.wait()
            outcome = self.outcomes.pop(0) if self.outcomes else Result()
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        finally:
            self.running[key] -= 1


def controller_for(reconciler: Scripted, clock: ManualClock, workers: int = 1) -> Controller:
    queue = WorkQueue(clock, ExponentialBackoff(base=1.0, cap=60.0))
    return Controller("test", reconciler, workers=workers, queue=queue)


async def test_an_error_requeues_with_growing_backoff_and_success_forgets_it() -> None:
    clock = ManualClock()
    reconciler = Scripted(RuntimeError("boom"), RuntimeError("boom"), Result())
    ctl = controller_for(reconciler, clock)
    await ctl.process("ns/a")
    assert ctl.queue.get_nowait() is None
    clock.advance(1)
    assert ctl.queue.get_nowait() == "ns/a"
    ctl.queue.done("ns/a")
    await ctl.process("ns/a")
    clock.advance(1.5)
    assert ctl.queue.get_nowait() is None  # second failure waits 2 s
    clock.advance(0.5)
    assert ctl.queue.get_nowait() == "ns/a"
    ctl.queue.done("ns/a")
    await ctl.process("ns/a")
    assert ctl.queue.backoff.retries("ns/a") == 0


async def test_requeue_after_brings_the_key_back_after_that_time() -> None:
    clock = ManualClock()
    ctl = controller_for(Scripted(Result(requeue_after=10)), clock)
    await ctl.process("ns/a")
    clock.advance(9.9)
    assert ctl.queue.get_nowait() is None
    clock.advance(0.1)
    assert ctl.queue.get_nowait() == "ns/a"


async def test_a_terminal_error_is_not_retried() -> None:
    clock = ManualClock()
    ctl = controller_for(Scripted(TerminalError("bad spec")), clock)
    await ctl.process("ns/a")
    clock.advance(3600)
    assert ctl.queue.get_nowait() is None


async def test_an_unexpected_exception_is_recovered_and_the_key_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    ctl = controller_for(Scripted(KeyError("spec")), clock)
    await ctl.process("ns/broken")
    assert any("key=ns/broken" in r.getMessage() for r in caplog.records)
    clock.advance(1)
    assert ctl.queue.get_nowait() == "ns/broken"


@pytest.mark.timeout(20)
async def test_workers_never_reconcile_the_same_key_concurrently() -> None:
    reconciler = Scripted()
    reconciler.gate.clear()
    ctl = Controller("test", reconciler, workers=4)
    runner = asyncio.create_task(ctl.run())
    ctl.queue.add("ns/a")
    await asyncio.sleep(0.05)
    for _ in range(5):
        ctl.queue.add("ns/a")  # arrives while ns/a is in flight: held back, coalesced
    ctl.queue.add("ns/b")
    await asyncio.sleep(0.05)
    reconciler.gate.set()
    await asyncio.sleep(0.2)
    ctl.stop()
    await asyncio.wait_for(runner, 5)
    assert reconciler.max_parallel_same_key == 1
    assert sorted(reconciler.calls) == ["ns/a", "ns/a", "ns/b"]


@pytest.mark.timeout(20)
async def test_stop_lets_the_in_flight_reconcile_finish() -> None:
    reconciler = Scripted()
    reconciler.gate.clear()
    ctl = Controller("test", reconciler, workers=1)
    runner = asyncio.create_task(ctl.run())
    ctl.queue.add("ns/a")
    await asyncio.sleep(0.05)
    ctl.stop()
    await asyncio.sleep(0.05)
    assert not runner.done()
    reconciler.gate.set()
    await asyncio.wait_for(runner, 5)
    assert reconciler.running["ns/a"] == 0

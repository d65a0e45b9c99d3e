"""The work queue: de-duplication, one worker per key, back-off and requeue-after on an injected clock."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numaflux.controller import ExponentialBackoff, ManualClock, WorkQueue


def test_a_key_added_many_times_is_handed_out_once() -> None:
    queue = WorkQueue(ManualClock())
    for _ in range(5):
        queue.add("ns/a")
    queue.add("ns/b")
    assert [queue.get_nowait(), queue.get_nowait(), queue.get_nowait()] == ["ns/a", "ns/b", None]


def test_a_key_being_processed_is_not_handed_out_again_until_done() -> None:
    queue = WorkQueue(ManualClock())
    queue.add("ns/a")
    assert queue.get_nowait() == "ns/a"
    queue.add("ns/a")
    queue.add("ns/a")
    assert queue.get_nowait() is None
    queue.done("ns/a")
    assert queue.get_nowait() == "ns/a"
    queue.done("ns/a")
    assert queue.get_nowait() is None


def test_done_without_new_adds_does_not_requeue() -> None:
    queue = WorkQueue(ManualClock())
    queue.add("k")
    assert queue.get_nowait() == "k"
    queue.done("k")
    assert queue.get_nowait() is None


def test_backoff_doubles_per_failure_up_to_the_cap_and_forget_resets_it() -> None:
    backoff = ExponentialBackoff(base=0.005, cap=0.08)
    assert [backoff.when("k") for _ in range(7)] == [0.005, 0.01, 0.02, 0.04, 0.08, 0.08, 0.08]
    assert backoff.when("other") == 0.005
    backoff.forget("k")
    assert backoff.retries("k") == 0
    assert backoff.when("k") == 0.005


def test_rate_limited_adds_wait_for_the_backoff_on_the_clock() -> None:
    clock = ManualClock()
    queue = WorkQueue(clock, ExponentialBackoff(base=1.0, cap=100.0))
    queue.add_rate_limited("k")  # 1 s
    assert queue.get_nowait() is None
    clock.advance(0.999)
    assert queue.get_nowait() is None
    clock.advance(0.001)
    assert queue.get_nowait() == "k"
    queue.done("k")
    queue.add_rate_limited("k")  # 2 s
    clock.advance(1.5)
    assert queue.get_nowait() is None
    clock.advance(0.5)
    assert queue.get_nowait() == "k"


def test_requeue_after_keeps_the_earliest_request() -> None:
    clock = ManualClock()
    queue = WorkQueue(clock)
    queue.add_after("k", 10)
    queue.add_after("k", 3)
    queue.add_after("k", 7)
    clock.advance(3)
    assert queue.get_nowait() == "k"
    queue.done("k")
    clock.advance(10)
    assert queue.get_nowait() is None


def test_a_delayed_key_that_is_also_added_now_is_handed_out_once_now() -> None:
    clock = ManualClock()
    queue = WorkQueue(clock)
    queue.add_after("k", 5)
    queue.add("k")
    assert queue.get_nowait() == "k"
    assert queue.get_nowait() is None


@pytest.mark.timeout(10)
async def test_get_waits_for_a_delayed_key_on_the_real_clock() -> None:
    queue = WorkQueue()
    queue.add_after("k", 0.05)
    assert await asyncio.wait_for(queue.get(), 5) == "k"


@pytest.mark.timeout(10)
async def test_shutdown_releases_waiting_workers() -> None:
    queue = WorkQueue()
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.shutdown()
    assert await asyncio.wait_for(waiter, 5) is None
    queue.add("k")
    assert queue.get_nowait() is None


@given(st.lists(st.tuples(st.sampled_from(["add", "get", "done"]), st.sampled_from("abc")), max_size=60))
def test_no_key_is_handed_out_twice_before_done_and_none_is_lost(ops: list[tuple[str, str]]) -> None:
    queue = WorkQueue(ManualClock())
    processing: set[str] = set()
    wanted: set[str] = set()  # added since it was last handed out
    for op, key in ops:
        if op == "add":
            queue.add(key)
            wanted.add(key)
        elif op == "get":
            got = queue.get_nowait()
            if got is not None:
                assert got not in processing
                processing.add(got)
                wanted.discard(got)
        elif key in processing:
            queue.done(key)
            processing.discard(key)
    for key in list(processing):
        queue.done(key)
    drained = set()
    while (got := queue.get_nowait()) is not None:
        drained.add(got)
        queue.done(got)
    assert drained == wanted

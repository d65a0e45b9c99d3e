"""``all_settled``: independent calls at once, results in call order, a failure only once all finished."""

from __future__ import annotations

import asyncio

import pytest

from numaflux.concurrency import all_settled


async def test_results_come_back_in_call_order_whatever_finishes_first() -> None:
    second_done = asyncio.Event()

    async def first() -> str:
        await second_done.wait()
        return "first"

    async def second() -> str:
        second_done.set()
        return "second"

    assert await all_settled([first(), second()]) == ["first", "second"]


async def test_a_failure_is_raised_only_after_every_call_finished() -> None:
    finished: list[str] = []
    failed = asyncio.Event()

    async def fails() -> None:
        failed.set()
        raise ValueError("boom")

    async def slow_write() -> None:
        await failed.wait()
        await asyncio.sleep(0)
        finished.append("write")

    with pytest.raises(ValueError, match="boom"):
        await all_settled([fails(), slow_write()])
    assert finished == ["write"]


async def test_the_first_failure_in_call_order_is_raised() -> None:
    later_failed = asyncio.Event()

    async def early_in_order() -> None:
        await later_failed.wait()
        raise KeyError("first in order")

    async def late_in_order() -> None:
        later_failed.set()
        raise ValueError("failed first in time")

    with pytest.raises(KeyError, match="first in order"):
        await all_settled([early_in_order(), late_in_order()])


async def test_nothing_to_do() -> None:
    assert await all_settled([]) == []

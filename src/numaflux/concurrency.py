"""Running independent awaitables at once without leaving any of them behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def all_settled(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Await every call concurrently; their results in call order.

    Unlike a bare ``asyncio.gather``, a failure is raised only once every call has finished, so no write
    keeps running behind a caller that already reports the failure; the first failure in call order is
    the one raised (the rest are dropped: the caller's next attempt recomputes everything anyway).
    """
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]

"""Small pieces the cluster benchmarks share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from numaflux.controller.vertex.orchestrate import is_ready as ready

T = TypeVar("T")

__all__ = ["ready", "until"]


async def until(
    check: Callable[[], Awaitable[T | None]], what: str, within: float, interval: float = 0.2
) -> T:
    """Poll `check` every `interval` seconds until it returns something other than None/False."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await check()
        if value is not None and value is not False:
            return value
        await asyncio.sleep(interval)
    raise TimeoutError(f"{what}: not within {within:g}s")

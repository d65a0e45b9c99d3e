"""Small pieces the cluster benchmarks share."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

from numaflux.controller.vertex.orchestrate import is_ready as ready
from numaflux.kubelet.adopted import find_leftovers
from numaflux.local import cluster, supervisor
from numaflux.local.run import start_cluster

T = TypeVar("T")

__all__ = ["local_cluster", "ready", "until"]


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


@contextlib.contextmanager
def local_cluster(prefix: str) -> Iterator[Path]:
    """A local cluster (API server, kubelet, controllers) in a fresh directory; yields its data dir, then
    stops every component and any pod process left behind, and removes the directory."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    data = tmp / "local"
    try:
        start_cluster(data)
        yield data
    finally:
        for component in reversed(cluster.components(data)):
            supervisor.stop(data, component.name)
        for processes in find_leftovers(data).values():
            for leftover in processes.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(leftover.pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)

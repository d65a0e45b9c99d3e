"""Keeps one UDF client connected: the first connect, and a single reconnect after any UDF failure.

Forwarders NAK the failed batch, call `failed(err)` and `await wait_connected()` before sending more;
the UDF container restarts (or recovers) and the client reconnects through its own `reconnect()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from numaflux.dataplane.udf import UDFError

log = logging.getLogger(__name__)


class Connectable(Protocol):
    name: str

    @property
    def connected(self) -> bool: ...

    async def connect(self) -> None: ...

    async def reconnect(self) -> None: ...

    async def close(self) -> None: ...

    async def is_ready(self, probe_timeout: float = 1.0) -> bool: ...


class UDFSupervisor:
    """Owns the (re)connect loop of one UDF client."""

    def __init__(self, client: Connectable, retry_interval: float = 1.0) -> None:
        self.client = client
        self.retry_interval = retry_interval
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._up.is_set() and self.client.connected

    async def connect(self) -> None:
        """Connect, retrying until it works (cancellable)."""
        await self._loop(first=True)

    async def _loop(self, first: bool) -> None:
        while True:
            try:
                if first:
                    await self.client.connect()
                else:
                    await self.client.reconnect()
            except UDFError as err:
                log.warning("udf %s: connect failed, retrying: %s", self.client.name, err)
                first = False
                await asyncio.sleep(self.retry_interval)
                continue
            self._up.set()
            log.info("udf %s: connected", self.client.name)
            return

    def failed(self, err: BaseException) -> None:
        """Record a UDF failure and start reconnecting (once, however many batches report it)."""
        if self._task is not None and not self._task.done():
            return
        log.warning("udf %s failed, reconnecting: %s", self.client.name, err)
        self._up.clear()
        self.reconnects += 1
        self._task = asyncio.create_task(self._loop(first=False), name=f"reconnect-{self.client.name}")

    async def wait_connected(self) -> None:
        if not self.client.connected and (self._task is None or self._task.done()) and self._up.is_set():
            self.failed(RuntimeError("client found disconnected"))
        await self._up.wait()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, UDFError):
                await self._task
        await self.client.close()

"""The daemon's connection to the ISB service: kept up in the background, never blocking a request.

The daemon starts and serves even while the ISB is unreachable; requests then fail fast with
ISBUnavailableError naming the URL and the last error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from numaflux.daemon.config import ISBSettings

log = logging.getLogger(__name__)

RETRY_INTERVAL = 1.0
REQUEST_TIMEOUT = 2.0


class ISBUnavailableError(RuntimeError):
    """The ISB service cannot be reached (or did not answer in time)."""


class ISBConnection:
    """A nats connection that (re)connects forever; `jetstream()` raises while it is down."""

    def __init__(self, settings: ISBSettings, name: str, request_timeout: float = REQUEST_TIMEOUT) -> None:
        self.settings = settings
        self.name = name
        self.request_timeout = request_timeout
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._last_error = "not connected yet"
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def client(self) -> NATS | None:
        """The nats client once the first connection succeeded (it reconnects by itself afterwards)."""
        return self._nc

    def start(self) -> None:
        """Begin connecting in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._connect_loop(), name="isb-connect")

    async def _connect_loop(self) -> None:
        while self._nc is None:
            try:
                self._nc = await self._connect()
                self._js = self._nc.jetstream(timeout=self.request_timeout)
                log.info("ISB %s: connected", self.url)
            except Exception as err:  # any failure is retried; the reason is kept for 503 answers
                self._last_error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                log.warning(
                    "ISB %s: connect failed (%s), retrying in %.0fs",
                    self.url,
                    self._last_error,
                    RETRY_INTERVAL,
                )
                await asyncio.sleep(RETRY_INTERVAL)

    async def _connect(self) -> NATS:
        tls: ssl.SSLContext | None = None
        if self.settings.tls:
            # the ISB service's certificate is self-signed, as in NumaFlow
            tls = ssl.create_default_context()
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE

        async def on_error(err: Exception) -> None:
            self._last_error = f"{type(err).__name__}: {err}"
            log.warning("ISB %s: %s", self.url, self._last_error)

        async def on_disconnect() -> None:
            if self._closing:
                return
            self._last_error = "connection lost, reconnecting"
            log.warning("ISB %s: disconnected", self.url)

        async def on_reconnect() -> None:
            log.info("ISB %s: reconnected", self.url)

        return await nats.connect(
            self.url,
            name=self.name,
            user=self.settings.user,
            password=self.settings.password,
            tls=tls,
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=on_error,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
        )

    def unavailable(self, detail: str | None = None) -> ISBUnavailableError:
        """The error to raise, naming the URL and the cause."""
        return ISBUnavailableError(f"ISB service at {self.url} is unreachable: {detail or self._last_error}")

    def jetstream(self) -> JetStreamContext:
        """The JetStream context; ISBUnavailableError while disconnected."""
        if self._js is None or not self.connected:
            raise self.unavailable()
        return self._js

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._nc is not None:
            try:
                await self._nc.close()
            except Exception as err:  # shutting down anyway; say why the close was unclean
                log.warning("ISB %s: close failed: %r", self.url, err)
            self._nc = None
            self._js = None

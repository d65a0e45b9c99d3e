"""Connecting to the ISB's nats-server with settings that survive server restarts."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client as NATS

log = logging.getLogger(__name__)

PENDING_BYTES = 64 * 1024 * 1024


async def connect(url: str, *, name: str | None = None, connect_timeout: float = 5.0) -> NATS:
    """Connect to `url`; reconnects forever (every 0.2 s) and buffers up to 64 MiB of publishes meanwhile."""

    async def on_error(err: Exception) -> None:
        log.warning("nats %s: %r", url, err)

    async def on_disconnect() -> None:
        log.info("nats %s: disconnected", url)

    async def on_reconnect() -> None:
        log.info("nats %s: reconnected", url)

    return await nats.connect(
        url,
        name=name,
        connect_timeout=connect_timeout,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        pending_size=PENDING_BYTES,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )

"""Raw handlers for the ISB's own inbox subscriptions (pull deliveries, PubAcks, ack confirmations).

For every MSG, nats-py decodes subject and reply, parses the header block (every delivered ISB message
carries `Nats-Msg-Id`), builds a `Msg`, queues it, and its subscription task awaits the callback — about
as much CPU as the rest of a hop's per-message work. A subscription made with `subscribe_raw` instead
gets `(subject, reply, data, status_headers)` as bytes, called synchronously from the connection's
reader in arrival order; only status messages (no reply subject) have their headers parsed.

This wraps nats-py 2.x's `Client._process_msg(sid, subject, reply, data, headers)` (and uses
`_process_headers`, `stats`, `Subscription._id`); without them `subscribe_raw` falls back to a normal
subscription whose callback adapts each `Msg`, so behaviour is the same either way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

RawHandler = Callable[[bytes, bytes, bytes, "dict[str, str] | None"], None]
"""(subject, reply, data, headers of a status message, else None)."""

log = logging.getLogger(__name__)

_INTERNALS = ("_process_msg", "_process_headers", "stats")


class _Router:
    """Replaces one connection's `_process_msg`: registered sids go to their raw handler."""

    def __init__(self, nc: NATS) -> None:
        self.handlers: dict[int, RawHandler] = {}
        self._nc = nc
        self._original: Callable[..., Awaitable[None]] = nc._process_msg
        nc._process_msg = self._process  # type: ignore[method-assign]

    async def _process(self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: Any) -> None:
        handler = self.handlers.get(sid)
        if handler is None:
            await self._original(sid, subject, reply, data, headers)
            return
        stats = self._nc.stats
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        status = None
        if not reply and headers:
            status = await self._nc._process_headers(headers) or {}
        try:
            handler(subject, reply, data, status)
        except Exception:  # the connection's reader must survive a handler bug, as a callback task does
            log.exception("handler for %s failed", subject.decode(errors="replace"))


_ATTR = "_numaflux_raw_router"
"""Where a connection keeps its router (on the connection itself, so both go away together)."""


def _router(nc: NATS) -> _Router | None:
    if not all(hasattr(nc, name) for name in _INTERNALS):
        return None
    router: _Router | None = getattr(nc, _ATTR, None)
    if router is None:
        router = _Router(nc)
        setattr(nc, _ATTR, router)
    return router


async def subscribe_raw(nc: NATS, subject: str, handler: RawHandler) -> Subscription:
    """Subscribe `subject` with `handler` (no pending limits: the handler never blocks)."""

    async def adapt(msg: Msg) -> None:  # before registration, or without the internals
        status = msg.headers if not msg.reply else None
        handler(msg.subject.encode(), msg.reply.encode(), msg.data, status or ({} if not msg.reply else None))

    sub = await nc.subscribe(subject, cb=adapt, pending_msgs_limit=-1, pending_bytes_limit=-1)
    router = _router(nc)
    if router is not None:
        router.handlers[sub._id] = handler
    return sub


async def unsubscribe_raw(nc: NATS, sub: Subscription) -> None:
    """Unsubscribe and forget the raw handler."""
    router: _Router | None = getattr(nc, _ATTR, None)
    if router is not None:
        router.handlers.pop(sub._id, None)
    await sub.unsubscribe()

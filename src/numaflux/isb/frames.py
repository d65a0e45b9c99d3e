"""Pre-built PUB/HPUB frames queued straight into nats-py's outgoing buffer.

nats-py's `publish()` spends ~2.5 µs per message encoding a one-entry header dict and validating subjects;
for the ISB's own subjects (buffer names, inboxes, `$JS.ACK...` replies) and a single `Nats-Msg-Id` header
that is most of the per-message cost of a hop. `FrameSender` builds the protocol frames itself and hands a
whole batch to nats-py's pending buffer, which its flusher task writes out (and which holds data across a
reconnect exactly as `publish()` would). This relies on nats-py 2.x internals (`_pending`,
`_flush_pending`, `_flush_queue`, `_pending_data_size`, `_max_pending_size`, `stats`); when they are
absent `enabled` is False and callers use `publish()`.
"""

from __future__ import annotations

import re

import nats.errors
from nats.aio.client import Client as NATS

_INTERNALS = (
    "_pending",
    "_flush_pending",
    "_flush_queue",
    "_pending_data_size",
    "_max_pending_size",
    "stats",
)
_BAD_SUBJECT = re.compile(r"[\s]")


def frames_supported(nc: NATS) -> bool:
    """Whether this nats-py client exposes the internals FrameSender needs."""
    return all(hasattr(nc, name) for name in _INTERNALS)


def check_subject(subject: str) -> bytes:
    """The subject as bytes; raises BadSubjectError for empty subjects or whitespace (frame injection)."""
    if not subject or _BAD_SUBJECT.search(subject):
        raise nats.errors.BadSubjectError(f"invalid subject {subject!r}")
    return subject.encode()


def hpub_with_msg_id(subject: bytes, reply: bytes, msg_id: bytes, payload: bytes) -> bytes:
    """An HPUB frame carrying only the `Nats-Msg-Id` header. `msg_id` must not contain CR or LF."""
    header = b"NATS/1.0\r\nNats-Msg-Id: %s\r\n\r\n" % msg_id
    return b"HPUB %s %s %d %d\r\n%s%s\r\n" % (
        subject,
        reply,
        len(header),
        len(header) + len(payload),
        header,
        payload,
    )


def pub(subject: bytes, payload: bytes, reply: bytes = b"") -> bytes:
    """A PUB frame (no headers)."""
    if reply:
        return b"PUB %s %s %d\r\n%s\r\n" % (subject, reply, len(payload), payload)
    return b"PUB %s %d\r\n%s\r\n" % (subject, len(payload), payload)


class FrameSender:
    """Queues finished frames on a nats-py connection, with publish()'s closed/draining/buffer checks."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self.enabled = frames_supported(nc)

    async def send(self, frames: list[bytes], payload_bytes: int) -> None:
        """Queue `frames` (carrying `payload_bytes` of payload in total) and wake the flusher."""
        nc = self._nc
        if nc.is_closed:
            raise nats.errors.ConnectionClosedError
        if nc.is_draining_pubs:
            raise nats.errors.ConnectionDrainingError
        size = sum(len(f) for f in frames)
        if not nc.is_connected and (
            nc._max_pending_size <= 0 or nc._pending_data_size + size > nc._max_pending_size
        ):
            raise nats.errors.OutboundBufferLimitError
        nc.stats["out_msgs"] += len(frames)
        nc.stats["out_bytes"] += payload_bytes
        nc._pending.extend(frames)
        nc._pending_data_size += size
        if nc._max_pending_size > 0 and nc._pending_data_size > nc._max_pending_size:
            await nc._flush_pending(force_flush=True)
        elif nc._flush_queue is not None and nc._flush_queue.empty():
            await nc._flush_pending()

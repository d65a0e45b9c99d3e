"""Buffer info (what pause/drain and the daemon read) and the writer's cached fullness check."""

from __future__ import annotations

import math
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy

DEFAULT_MAX_LENGTH = 30_000
DEFAULT_USAGE_LIMIT = 0.8


@dataclass(frozen=True, slots=True)
class BufferInfo:
    """NumaFlow's daemon `BufferInfo` for one buffer.

    `usage = min(total_messages, pending + ack_pending) / buffer_length`, `is_full = usage >= usage_limit`.
    Under Limits retention acked messages stay in the stream, so total_messages = pending + ack_pending.
    """

    buffer: str
    pending: int
    ack_pending: int
    total_messages: int
    buffer_length: int
    usage_limit: float

    @property
    def usage(self) -> float:
        """Fraction of `buffer_length` holding unprocessed messages."""
        return min(self.total_messages, self.pending + self.ack_pending) / self.buffer_length

    @property
    def is_full(self) -> bool:
        """True when usage reached the usage limit."""
        return self.usage >= self.usage_limit

    @property
    def is_drained(self) -> bool:
        """Nothing pending and nothing being processed."""
        return self.pending == 0 and self.ack_pending == 0


async def get_buffer_info(
    js: JetStreamContext,
    buffer: str,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    usage_limit: float = DEFAULT_USAGE_LIMIT,
) -> BufferInfo:
    """Read the buffer's consumer (same name) and stream counters; raises nats NotFoundError if absent."""
    if max_length <= 0:
        raise ValueError(f"bufferMaxLength: must be > 0, got {max_length}")
    consumer = await js.consumer_info(buffer, buffer)
    pending = consumer.num_pending or 0
    ack_pending = consumer.num_ack_pending or 0
    stream = await js.stream_info(buffer)
    if stream.config.retention in (None, RetentionPolicy.LIMITS):
        total = pending + ack_pending
    else:
        total = stream.state.messages
    return BufferInfo(buffer, pending, ack_pending, total, max_length, usage_limit)


class FullnessGauge:
    """How many more messages a writer may put into a buffer, from cached counters.

    Counters come from the consumer every `refresh_interval` seconds; between refreshes the writer's own
    accepted writes are added, so one writer never overshoots `max_length * usage_limit` on stale data.
    Starts full until the first refresh, as NumaFlow's writer does. Time is passed in (`now`, seconds).
    """

    def __init__(self, max_length: int, usage_limit: float, refresh_interval: float = 1.0) -> None:
        if max_length <= 0:
            raise ValueError(f"bufferMaxLength: must be > 0, got {max_length}")
        if not 0 < usage_limit <= 1:
            raise ValueError(f"bufferUsageLimit: must be in (0, 1], got {usage_limit}")
        # is_full <=> occupied >= length * limit: ceil(length * limit) messages fit (float fuzz rounded off)
        self.capacity = math.ceil(round(max_length * usage_limit, 9))
        self.refresh_interval = refresh_interval
        self._occupied: int | None = None
        self._written_since = 0
        self._refreshed_at = float("-inf")

    def update(self, pending: int, ack_pending: int, now: float) -> None:
        """Record fresh consumer counters taken at `now`."""
        self._occupied = pending + ack_pending
        self._written_since = 0
        self._refreshed_at = now

    def invalidate(self) -> None:
        """Counters are unknown (info request failed): treat the buffer as full until the next update."""
        self._occupied = None

    def due(self, now: float) -> bool:
        """Whether the counters are older than `refresh_interval`."""
        return now - self._refreshed_at >= self.refresh_interval

    def room(self) -> int:
        """Messages that may still be written (0 = full or unknown)."""
        if self._occupied is None:
            return 0
        return max(0, self.capacity - self._occupied - self._written_since)

    def is_full(self) -> bool:
        """No room left."""
        return self.room() == 0

    def record_writes(self, count: int) -> None:
        """Count `count` accepted writes against the room until the next update."""
        self._written_since += count

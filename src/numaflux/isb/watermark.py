"""Watermarks in the `{bucket}_OT` KV buckets: publish per processor, fetch the minimum over processors.

Values are NumaFlow's `watermark.WMB` protobuf (`idle=1, offset=2, watermark=3 (epoch ms), partition=4,
processor_count=5`), hand-encoded here. The key is the processor name, e.g. `"{vertex}-{replica}"`.
A processor writes one key for all partitions, so readers watch the bucket to see every update rather
than reading the latest value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import nats.errors
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)

_MASK64 = (1 << 64) - 1
TIMELINE_CAPACITY = 10
INACTIVE_AFTER = 5.0
DELETED_AFTER = 50.0


@dataclass(frozen=True, slots=True)
class WMB:
    """A watermark bookkeeping entry: up to `offset` on `partition`, event time >= `watermark` (ms)."""

    idle: bool
    offset: int
    watermark: int
    partition: int
    processor_count: int | None = None


def _varint(value: int) -> bytes:
    value &= _MASK64  # negative int64/int32 are sent as their 64-bit two's complement
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def encode_wmb(wmb: WMB) -> bytes:
    """Protobuf bytes of `wmb` (proto3: zero fields omitted, `processor_count` sent when set)."""
    out = bytearray()
    if wmb.idle:
        out += b"\x08\x01"
    if wmb.offset:
        out += b"\x10" + _varint(wmb.offset)
    if wmb.watermark:
        out += b"\x18" + _varint(wmb.watermark)
    if wmb.partition:
        out += b"\x20" + _varint(wmb.partition)
    if wmb.processor_count is not None:
        out += b"\x28" + _varint(wmb.processor_count)
    return bytes(out)


def decode_wmb(data: bytes) -> WMB:
    """Parse WMB protobuf bytes; unknown fields are skipped, malformed input raises ValueError."""
    fields: dict[int, int] = {}
    pos = 0
    n = len(data)
    while pos < n:
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            fields[number] = value
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"WMB: unsupported wire type {wire} for field {number}")
        if pos > n:
            raise ValueError("WMB: truncated")
    count = fields.get(5)
    return WMB(
        idle=bool(fields.get(1, 0)),
        offset=_signed(fields.get(2, 0), 64),
        watermark=_signed(fields.get(3, 0), 64),
        partition=_signed(fields.get(4, 0), 32),
        processor_count=None if count is None else _signed(count, 32),
    )


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("WMB: truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("WMB: varint too long")


class WatermarkPublisher:
    """Publishes one processor's watermarks; offsets and watermarks never go backwards per partition."""

    def __init__(self, kv: KeyValue, processor: str) -> None:
        self._kv = kv
        self.processor = processor
        self._last: dict[int, WMB] = {}

    async def publish(
        self,
        partition: int,
        offset: int,
        watermark: int,
        *,
        idle: bool = False,
        processor_count: int | None = None,
    ) -> WMB:
        """Put `WMB(idle, offset, watermark, partition)` under the processor's key (values clamped to be
        monotonic); returns what was written."""
        prev = self._last.get(partition)
        if prev is not None:
            if watermark < prev.watermark:
                log.debug(
                    "%s p%d: watermark %d < %d, clamped", self.processor, partition, watermark, prev.watermark
                )
                watermark = prev.watermark
            offset = max(offset, prev.offset)
        wmb = WMB(idle, offset, watermark, partition, processor_count)
        await self._kv.put(self.processor, encode_wmb(wmb))
        self._last[partition] = wmb
        return wmb


@dataclass(slots=True)
class _Processor:
    last_seen: float
    timelines: dict[int, list[WMB]] = field(default_factory=dict)


class ProcessorTable:
    """Offset timelines of every upstream processor of one bucket (pure; time is passed in).

    A processor unseen for `DELETED_AFTER` seconds no longer holds the watermark back.
    """

    def __init__(self, capacity: int = TIMELINE_CAPACITY) -> None:
        self.capacity = capacity
        self._processors: dict[str, _Processor] = {}

    def apply(self, processor: str, wmb: WMB, now: float) -> None:
        """Record an update seen at `now`."""
        proc = self._processors.get(processor)
        if proc is None:
            proc = self._processors[processor] = _Processor(now)
        proc.last_seen = now
        timeline = proc.timelines.setdefault(wmb.partition, [])
        if timeline and wmb.watermark < timeline[0].watermark:
            return  # stale or reordered entry; the timeline only moves forward
        timeline.insert(0, wmb)
        del timeline[self.capacity :]

    def remove(self, processor: str) -> None:
        """Forget a processor (its key was deleted)."""
        self._processors.pop(processor, None)

    def processors(self, now: float) -> list[str]:
        """Names of processors that still count."""
        return [name for name, p in self._processors.items() if now - p.last_seen < DELETED_AFTER]

    def watermark_at(self, partition: int, offset: int, now: float) -> int:
        """Watermark (epoch ms) of a message read at `offset` on `partition`: per processor, the watermark of
        the newest entry with an offset below `offset`; the minimum over processors; -1 if unknown."""
        best: int | None = None
        for name in self.processors(now):
            value = -1
            for wmb in self._processors[name].timelines.get(partition, ()):
                if wmb.offset < offset:
                    value = wmb.watermark
                    break
            best = value if best is None else min(best, value)
        return -1 if best is None else best

    def head_watermark(self, partitions: Iterable[int], now: float) -> int:
        """Minimum over processors and `partitions` of the latest published watermark; -1 if unknown."""
        parts = list(partitions)
        best: int | None = None
        for name in self.processors(now):
            timelines = self._processors[name].timelines
            for p in parts:
                timeline = timelines.get(p)
                value = timeline[0].watermark if timeline else -1
                best = value if best is None else min(best, value)
        return -1 if best is None else best


class WatermarkFetcher:
    """Watches one `_OT` bucket and answers watermark questions from a ProcessorTable."""

    def __init__(self, kv: KeyValue, clock: Callable[[], float] = time.monotonic) -> None:
        self._kv = kv
        self._clock = clock
        self.table = ProcessorTable()
        self._task: asyncio.Task[None] | None = None
        self._synced = asyncio.Event()

    async def start(self) -> None:
        """Start watching; returns once the bucket's current entries are loaded."""
        watcher = await self._kv.watchall()
        self._task = asyncio.create_task(self._run(watcher), name="watermark-fetcher")
        await self._synced.wait()

    async def _run(self, watcher: KeyValue.KeyWatcher) -> None:
        try:
            while True:
                try:
                    entry = await watcher.updates(timeout=5.0)  # type: ignore[no-untyped-call]
                except nats.errors.TimeoutError:
                    continue
                if entry is None:  # end of the initial values
                    self._synced.set()
                    continue
                if entry.operation in ("DEL", "PURGE"):
                    self.table.remove(entry.key)
                    continue
                try:
                    wmb = decode_wmb(entry.value or b"")
                except ValueError as err:
                    log.error("OT %s: bad WMB from %s: %s", entry.bucket, entry.key, err)
                    continue
                self.table.apply(entry.key, wmb, self._clock())
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()  # type: ignore[no-untyped-call]

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def watermark_at(self, partition: int, offset: int) -> int:
        """See `ProcessorTable.watermark_at`."""
        return self.table.watermark_at(partition, offset, self._clock())

    def head_watermark(self, partitions: Iterable[int]) -> int:
        """See `ProcessorTable.head_watermark`."""
        return self.table.head_watermark(partitions, self._clock())

"""Batched JetStream writes, raw pattern: core publish with a reply inbox, PubAcks counted in a callback.

`Publisher` owns one inbox subscription per connection and a bounded in-flight window shared by every
buffer it writes to. `BufferWriter` adds the buffer-full policy for one buffer (one partition);
`EdgeWriter` spreads a batch over the partitions of an edge. A batch's results are returned only after every
message in it has a PubAck (or a definite error), in input order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import cast

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from numaflux.isb.config import OnFull
from numaflux.isb.frames import FrameSender, check_subject, hpub_with_msg_id, pub
from numaflux.isb.info import DEFAULT_MAX_LENGTH, DEFAULT_USAGE_LIMIT, FullnessGauge
from numaflux.isb.message import Kind, Message, encode_message
from numaflux.isb.partition import split_by_partition
from numaflux.isb.rawsub import subscribe_raw, unsubscribe_raw

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"


class WriteStatus(Enum):
    """Outcome of writing one message."""

    OK = "ok"
    DUPLICATE = "duplicate"
    DROPPED_FULL = "dropped: buffer-full"
    ERROR = "error"


@dataclass(slots=True)
class WriteResult:
    """Per-message write outcome; `sequence` is the stream sequence (the downstream offset), 0 if none."""

    status: WriteStatus
    sequence: int = 0
    partition: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Stored (a duplicate was stored by an earlier write of the same id)."""
        return self.status is WriteStatus.OK or self.status is WriteStatus.DUPLICATE


_SEQ_KEY = b'"seq":'


def _parse_pub_ack(
    data: bytes, headers: dict[str, str] | None, partition: int, seq_at: int = 0
) -> WriteResult:
    """A PubAck (body, and headers of a status reply) as a result. `seq_at` is where the digits start in
    the usual `{"stream":"<name>","seq":N}` form; the fast path takes it when the bytes after it are digits
    and `}` only."""
    if seq_at and data[-1:] == b"}":
        digits = data[seq_at:-1]
        if digits.isdigit():
            return WriteResult(WriteStatus.OK, int(digits), partition)
    if not data:
        status = (headers or {}).get("Status", "?")
        if status == "503":
            return WriteResult(WriteStatus.ERROR, 0, partition, "no responders: the stream does not exist")
        return WriteResult(WriteStatus.ERROR, 0, partition, f"PubAck status {status}")
    if b'"error"' in data:
        try:
            err = json.loads(data)["error"]
            text = f"JetStream error {err.get('err_code', err.get('code'))}: {err.get('description')}"
        except (ValueError, KeyError, TypeError):
            text = data.decode(errors="replace")
        return WriteResult(WriteStatus.ERROR, 0, partition, text)
    start = data.find(_SEQ_KEY)
    if start < 0:
        return WriteResult(WriteStatus.ERROR, 0, partition, f"PubAck without seq: {data[:200]!r}")
    start += len(_SEQ_KEY)
    end = data.find(b",", start)
    if end < 0:
        end = data.find(b"}", start)
    seq = int(data[start:end])
    if b'"duplicate"' in data[end:]:  # only present when true
        return WriteResult(WriteStatus.DUPLICATE, seq, partition)
    return WriteResult(WriteStatus.OK, seq, partition)


class _Batch:
    __slots__ = ("done", "partition", "remaining", "results", "seq_at")

    def __init__(self, n: int, partition: int, subject: str) -> None:
        self.results: list[WriteResult | None] = [None] * n
        self.remaining = n
        self.partition = partition
        self.seq_at = len(f'{{"stream":"{subject}","seq":')
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class Publisher:
    """Publishes batches to JetStream subjects and correlates PubAcks on one inbox subscription."""

    def __init__(
        self, nc: NATS, *, window: int = 1024, ack_timeout: float = 5.0, use_frames: bool = True
    ) -> None:
        if window <= 0:
            raise ValueError(f"window: must be > 0, got {window}")
        self._nc = nc
        self._frames = FrameSender(nc)
        self._frames.enabled = self._frames.enabled and use_frames
        self.window = window
        self.ack_timeout = ack_timeout
        self._prefix = ""
        self._prefix_len = 0
        self._sub: Subscription | None = None
        self._pending: dict[int, tuple[_Batch, int]] = {}
        self._next_token = 0
        self._window_open = asyncio.Event()
        self._blocked = False  # a publish waits for the window: only then do PubAcks signal
        self.late_acks = 0

    @property
    def uses_frames(self) -> bool:
        """Whether batches go out as pre-built frames (else through nats-py's publish())."""
        return self._frames.enabled

    @property
    def in_flight(self) -> int:
        """Published messages still waiting for a PubAck."""
        return len(self._pending)

    async def start(self) -> None:
        """Subscribe the PubAck inbox."""
        if self._sub is not None:
            return
        inbox = self._nc.new_inbox()
        self._prefix = inbox + "."
        self._prefix_len = len(self._prefix)
        self._sub = await subscribe_raw(self._nc, inbox + ".*", self._on_ack)

    async def close(self) -> None:
        """Unsubscribe; batches still waiting fail with an error result."""
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await unsubscribe_raw(self._nc, sub)
        for token in list(self._pending):
            self._fail(token, "publisher closed")

    def _on_ack(self, subject: bytes, reply: bytes, data: bytes, status: dict[str, str] | None) -> None:
        token = int(subject[self._prefix_len :])
        entry = self._pending.pop(token, None)
        if entry is None:
            self.late_acks += 1
            return
        batch, index = entry
        batch.results[index] = _parse_pub_ack(data, status, batch.partition, batch.seq_at)
        self._settle(batch)

    def _settle(self, batch: _Batch) -> None:
        batch.remaining -= 1
        if batch.remaining == 0 and not batch.done.done():
            batch.done.set_result(None)
        if self._blocked and len(self._pending) < self.window:
            self._blocked = False
            self._window_open.set()

    def _fail(self, token: int, error: str) -> None:
        entry = self._pending.pop(token, None)
        if entry is not None:
            batch, index = entry
            batch.results[index] = WriteResult(WriteStatus.ERROR, 0, batch.partition, error)
            self._settle(batch)

    async def publish(
        self, subject: str, payloads: Sequence[bytes], msg_ids: Sequence[str | None], partition: int = 0
    ) -> list[WriteResult]:
        """Publish `payloads` (with dedup ids, `None` = no id) and return results once all are acked."""
        if self._sub is None:
            raise RuntimeError("Publisher.publish: call start() first")
        n = len(payloads)
        if n == 0:
            return []
        batch = _Batch(n, partition, subject)
        tokens: list[int] = []
        pending = self._pending
        window = self.window
        try:
            if self._frames.enabled:
                await self._send_frames(subject, payloads, msg_ids, batch, tokens)
            else:
                await self._send_each(subject, payloads, msg_ids, batch, tokens)
            if batch.remaining:
                try:
                    await asyncio.wait_for(asyncio.shield(batch.done), self.ack_timeout)
                except TimeoutError:
                    for token in tokens:
                        self._fail(token, f"no PubAck from {subject} within {self.ack_timeout}s")
        finally:
            if batch.remaining:  # cancelled: free the window slots this batch still holds
                for token in tokens:
                    pending.pop(token, None)
                if len(pending) < window:
                    self._blocked = False
                    self._window_open.set()
        # every index was settled above: by a PubAck, a publish error or the timeout
        return cast(list[WriteResult], batch.results)

    async def _wait_for_window(self) -> None:
        while len(self._pending) >= self.window:
            self._blocked = True
            self._window_open.clear()
            await self._window_open.wait()

    def _track(self, batch: _Batch, index: int, tokens: list[int]) -> int:
        token = self._next_token
        self._next_token = token + 1
        tokens.append(token)
        self._pending[token] = (batch, index)
        return token

    async def _send_frames(
        self,
        subject: str,
        payloads: Sequence[bytes],
        msg_ids: Sequence[str | None],
        batch: _Batch,
        tokens: list[int],
    ) -> None:
        subj = check_subject(subject)
        prefix = self._prefix.encode()
        max_payload = self._nc.max_payload
        pending = self._pending
        n = len(payloads)
        i = 0
        while i < n:
            await self._wait_for_window()
            end = min(n, i + self.window - len(pending))
            first = len(tokens)
            frames: list[bytes] = []
            size = 0
            for k in range(i, end):
                token = self._next_token
                self._next_token = token + 1
                tokens.append(token)
                pending[token] = (batch, k)
                payload = payloads[k]
                msg_id = msg_ids[k]
                if len(payload) > max_payload:
                    self._fail(token, f"payload of {len(payload)} bytes exceeds max_payload {max_payload}")
                elif msg_id is None:
                    frames.append(pub(subj, payload, b"%s%d" % (prefix, token)))
                    size += len(payload)
                elif msg_id.isprintable():
                    frames.append(hpub_with_msg_id(subj, b"%s%d" % (prefix, token), msg_id.encode(), payload))
                    size += len(payload)
                else:
                    self._fail(token, f"message id {msg_id!r} contains control characters")
            try:
                await self._frames.send(frames, size)
            except (nats.errors.Error, OSError) as err:
                for token in tokens[first:]:
                    self._fail(token, f"publish to {subject}: {err!r}")
            i = end

    async def _send_each(
        self,
        subject: str,
        payloads: Sequence[bytes],
        msg_ids: Sequence[str | None],
        batch: _Batch,
        tokens: list[int],
    ) -> None:
        publish = self._nc.publish
        prefix = self._prefix
        for i in range(len(payloads)):
            await self._wait_for_window()
            token = self._track(batch, i, tokens)
            msg_id = msg_ids[i]
            try:
                await publish(
                    subject,
                    payloads[i],
                    reply=prefix + str(token),
                    headers={MSG_ID_HEADER: msg_id} if msg_id is not None else None,
                )
            except (nats.errors.Error, OSError) as err:
                self._fail(token, f"publish to {subject}: {err!r}")


class BufferWriter:
    """Writes message batches to one buffer, enforcing `bufferMaxLength * bufferUsageLimit` with `on_full`.

    The fullness counters are refreshed from the consumer every `refresh_interval` seconds, and at most
    every `full_retry_interval` seconds while the buffer looks full. WMB control messages bypass the check.
    """

    def __init__(
        self,
        js: JetStreamContext,
        publisher: Publisher,
        buffer: str,
        *,
        partition: int = 0,
        max_length: int = DEFAULT_MAX_LENGTH,
        usage_limit: float = DEFAULT_USAGE_LIMIT,
        on_full: OnFull = OnFull.RETRY_UNTIL_SUCCESS,
        refresh_interval: float = 1.0,
        full_retry_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._js = js
        self._publisher = publisher
        self.buffer = buffer
        self.partition = partition
        self.on_full = on_full
        self.gauge = FullnessGauge(max_length, usage_limit, refresh_interval)
        self.full_retry_interval = full_retry_interval
        self._clock = clock
        self._last_refresh = float("-inf")
        self.dropped = 0

    async def refresh(self) -> None:
        """Fetch the consumer's pending + ackPending now."""
        now = self._clock()
        self._last_refresh = now
        try:
            info = await self._js.consumer_info(self.buffer, self.buffer)
        except (nats.errors.Error, OSError) as err:
            log.warning("buffer %s: consumer info failed, treating as full: %r", self.buffer, err)
            self.gauge.invalidate()
            return
        self.gauge.update(info.num_pending or 0, info.num_ack_pending or 0, now)

    async def _room(self, want: int) -> int:
        if self.gauge.due(self._clock()):
            await self.refresh()
        room = self.gauge.room()
        if room < want and self._clock() - self._last_refresh >= self.full_retry_interval:
            await self.refresh()
            room = self.gauge.room()
        return room

    async def write(self, messages: Sequence[Message]) -> list[WriteResult]:
        """Write a batch; one result per message, in order. Waits (cancellable) while full under
        retryUntilSuccess; under discardLatest returns DROPPED_FULL for what does not fit."""
        n = len(messages)
        payloads = [encode_message(m) for m in messages]
        ids: list[str | None] = [f"{i.vertex_name}-{i.offset}-{i.index}" for i in [m.id for m in messages]]
        control = [i for i, m in enumerate(messages) if m.kind]  # Kind.DATA == 0
        if not control and n and self.gauge.room() >= n and not self.gauge.due(self._clock()):
            self.gauge.record_writes(n)
            return await self._publisher.publish(self.buffer, payloads, ids, self.partition)
        for i in control:
            ids[i] = None  # WMB control messages carry no dedup id
        results: list[WriteResult | None] = [None] * n
        data = [i for i, m in enumerate(messages) if m.kind is Kind.DATA] if control else range(n)
        if control:
            await self._publish(control, payloads, ids, results)
        start = 0
        while start < len(data):
            room = await self._room(len(data) - start)
            if room == 0:
                if self.on_full is OnFull.DISCARD_LATEST:
                    for i in data[start:]:
                        results[i] = WriteResult(WriteStatus.DROPPED_FULL, 0, self.partition)
                    self.dropped += len(data) - start
                    break
                await asyncio.sleep(self.full_retry_interval)
                continue
            chunk = data[start : start + room]
            self.gauge.record_writes(len(chunk))
            await self._publish(chunk, payloads, ids, results)
            start += len(chunk)
        return [r for r in results if r is not None]

    async def _publish(
        self,
        indexes: Sequence[int],
        payloads: list[bytes],
        ids: list[str | None],
        results: list[WriteResult | None],
    ) -> None:
        if len(indexes) == len(payloads):
            got = await self._publisher.publish(self.buffer, payloads, ids, self.partition)
        else:
            got = await self._publisher.publish(
                self.buffer, [payloads[i] for i in indexes], [ids[i] for i in indexes], self.partition
            )
        for i, result in zip(indexes, got, strict=True):
            results[i] = result

    async def write_until_stored(
        self, messages: Sequence[Message], retry_interval: float = 0.1
    ) -> list[WriteResult]:
        """`write`, then rewrite the messages that failed until each is stored or dropped (cancellable).
        Rewrites are safe: the dedup window turns an already-stored id into DUPLICATE."""
        results = await self.write(messages)
        while True:
            failed = [i for i, r in enumerate(results) if r.status is WriteStatus.ERROR]
            if not failed:
                return results
            log.warning(
                "buffer %s: %d writes failed (%s); retrying",
                self.buffer,
                len(failed),
                results[failed[0]].error,
            )
            await asyncio.sleep(retry_interval)
            again = await self.write([messages[i] for i in failed])
            for i, result in zip(failed, again, strict=True):
                results[i] = result


class EdgeWriter:
    """Writes batches to every partition of one edge: by keys when `keyed`, else by message id offset."""

    def __init__(self, writers: Sequence[BufferWriter], *, keyed: bool = False) -> None:
        if not writers:
            raise ValueError("EdgeWriter: needs at least one partition writer")
        self.writers = list(writers)
        self.keyed = keyed

    async def write(self, messages: Sequence[Message], *, until_stored: bool = False) -> list[WriteResult]:
        """One result per message in input order; partitions are written concurrently."""
        if len(self.writers) == 1:
            w = self.writers[0]
            return await (w.write_until_stored(messages) if until_stored else w.write(messages))
        groups = split_by_partition(messages, len(self.writers), keyed=self.keyed)
        jobs = []
        for writer, idx in zip(self.writers, groups, strict=True):
            if idx:
                subset = [messages[i] for i in idx]
                jobs.append(writer.write_until_stored(subset) if until_stored else writer.write(subset))
        outcomes = await asyncio.gather(*jobs)
        results: list[WriteResult | None] = [None] * len(messages)
        for idx, got in zip([g for g in groups if g], outcomes, strict=True):
            for i, result in zip(idx, got, strict=True):
                results[i] = result
        return [r for r in results if r is not None]

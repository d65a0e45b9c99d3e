"""Batch reads from a buffer's durable pull consumer with the raw pattern, plus ack / nak / in-progress.

Pulls are `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` requests with `{"batch": readBatchSize,
"expires": readTimeout}`, all answered on one inbox subscription, so messages are handled in stream
order. The server spreads messages round-robin over a consumer's waiting pulls, so the reader counts
messages in aggregate: it asked for `outstanding` more; each message takes one off, and a pull's end
status (408 expired, 409) takes off the `Nats-Pending-Messages` it reports. New pulls keep up to
`pulls_in_flight * readBatchSize` messages requested or buffered. If neither a message nor a status arrives
for `readTimeout + 1 s` after the last pull, the pulls were lost (server restart) and are issued again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from numaflux.isb.frames import FrameSender, pub
from numaflux.isb.message import Message, MessageDecodeError, MessageID, decode_message
from numaflux.isb.rawsub import subscribe_raw, unsubscribe_raw

log = logging.getLogger(__name__)

ACK = b"+ACK"
NAK = b"-NAK"
IN_PROGRESS = b"+WPI"
TERM = b"+TERM"


@dataclass(slots=True)
class ReadMessage:
    """A message read from a buffer.

    `id` is the read-side identity NumaFlow assigns (reading vertex, offset `"{seq}-{partition}"`, index 0);
    `message.id` is the identity it was written with.
    """

    message: Message
    id: MessageID
    sequence: int
    partition: int
    num_delivered: int
    reply: str


def parse_ack_subject(reply: str) -> tuple[int, int]:
    """(stream sequence, delivery count) from a `$JS.ACK...` subject (v1 and v2 token layouts)."""
    tokens = reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[4])
    if len(tokens) >= 11:
        return int(tokens[7]), int(tokens[6])
    raise ValueError(f"not a JetStream ack subject: {reply!r}")


class ReaderStoppedError(RuntimeError):
    """The reader was closed."""


class BufferReader:
    """Reads batches from one buffer (one partition) through its durable consumer."""

    def __init__(
        self,
        nc: NATS,
        buffer: str,
        *,
        vertex_name: str,
        partition: int = 0,
        consumer: str | None = None,
        batch_size: int = 500,
        read_timeout: float = 1.0,
        pulls_in_flight: int = 2,
        ack_timeout: float = 5.0,
        use_frames: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"readBatchSize: must be > 0, got {batch_size}")
        if read_timeout <= 0:
            raise ValueError(f"readTimeout: must be > 0, got {read_timeout}")
        self._nc = nc
        self._frames = FrameSender(nc)
        self._frames.enabled = self._frames.enabled and use_frames
        self._js: JetStreamContext = nc.jetstream()
        self.buffer = buffer
        self.consumer = consumer or buffer
        self.vertex_name = vertex_name
        self.partition = partition
        self._offset_suffix = f"-{partition}"
        self._ack_prefix = f"$JS.ACK.{buffer}.{consumer or buffer}."
        self._ack_prefix_len = len(self._ack_prefix)
        self.batch_size = batch_size
        self.read_timeout = read_timeout
        self.ack_timeout = ack_timeout
        self.ack_wait = 60.0
        self._clock = clock
        self._grace = 1.0
        self.pulls_in_flight = max(1, pulls_in_flight)
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{buffer}.{self.consumer}"
        self._pull_request = json.dumps(
            {"batch": batch_size, "expires": int(read_timeout * 1_000_000_000)}
        ).encode()
        self._inbox = ""
        self._sub: Subscription | None = None
        self._pull_token = 0
        self._outstanding = 0
        self._last_pull_at = 0.0
        self._seen = 0
        self._seen_at_check = 0
        self._activity_at = 0.0
        self._ready: deque[ReadMessage] = deque()
        self._wake = asyncio.Event()
        self._pull_ended = False
        self._stopping = False
        self._closed = False
        self._backoff_until = 0.0
        self._ack_inbox = ""
        self._ack_sub: Subscription | None = None
        self._ack_waiters: dict[str, asyncio.Future[None]] = {}
        self._ack_token = 0
        self._ack_tasks: set[asyncio.Task[None]] = set()
        self._term_tasks: set[asyncio.Future[None]] = set()
        self.decode_errors = 0
        self.pull_errors = 0
        self.lost_pulls = 0

    async def start(self) -> None:
        """Read the consumer's AckWait, subscribe the pull and ack inboxes and issue the first pulls."""
        info = await self._js.consumer_info(self.buffer, self.consumer)
        if info.config.ack_wait:
            self.ack_wait = float(info.config.ack_wait)
        self._inbox = self._nc.new_inbox()
        self._sub = await subscribe_raw(self._nc, self._inbox + ".*", self._on_msg)
        self._ack_inbox = self._nc.new_inbox()
        self._ack_sub = await subscribe_raw(self._nc, self._ack_inbox + ".*", self._on_ack_reply)
        await self._pump()

    # -- pulling ---------------------------------------------------------------------------------

    def _on_msg(self, subject: bytes, reply_bytes: bytes, data: bytes, status: dict[str, str] | None) -> None:
        if not reply_bytes:
            self._on_status(status or {})
            return
        reply = reply_bytes.decode()
        self._seen += 1
        if self._outstanding > 0:
            self._outstanding -= 1
        try:
            if reply.startswith(self._ack_prefix):
                # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
                n_delivered, n_seq, _ = reply[self._ack_prefix_len :].split(".", 2)
                seq, delivered = int(n_seq), int(n_delivered)
            else:
                seq, delivered = parse_ack_subject(reply)
            message = decode_message(data)
        except (MessageDecodeError, ValueError) as err:
            self.decode_errors += 1
            log.error("buffer %s: undecodable message, terminating it: %s", self.buffer, err)
            if reply.startswith("$JS.ACK."):
                task = asyncio.ensure_future(self._nc.publish(reply, TERM))
                self._term_tasks.add(task)
                task.add_done_callback(self._term_tasks.discard)
            return
        self._ready.append(
            ReadMessage(
                message,
                MessageID(self.vertex_name, str(seq) + self._offset_suffix, 0),
                seq,
                self.partition,
                delivered,
                reply,
            )
        )
        if len(self._ready) >= self.batch_size:
            self._wake.set()

    def _on_status(self, headers: dict[str, str]) -> None:
        status = headers.get("Status", "")
        if status == "100":  # idle heartbeat: the pull is still alive
            return
        self._seen += 1
        left = headers.get("Nats-Pending-Messages")
        if left is not None:
            self._outstanding = max(0, self._outstanding - int(left))
        elif status not in ("404", "408"):
            # a rejected request (e.g. 409 Exceeded MaxWaiting) delivered nothing
            self._outstanding = max(0, self._outstanding - self.batch_size)
        if status not in ("404", "408"):
            self.pull_errors += 1
            self._backoff_until = self._clock() + min(self.read_timeout, 1.0)
            log.warning(
                "buffer %s: pull ended with status %s %s", self.buffer, status, headers.get("Description", "")
            )
        self._pull_ended = True
        self._wake.set()

    async def _pump(self) -> None:
        """Pull while fewer than `pulls_in_flight * readBatchSize` messages are requested or buffered."""
        now = self._clock()
        if self._seen != self._seen_at_check:
            self._seen_at_check = self._seen
            self._activity_at = now
        quiet_since = max(self._activity_at, self._last_pull_at)
        if self._outstanding and now - quiet_since > self.read_timeout + self._grace:
            log.info(
                "buffer %s: %d requested messages never came (reconnect?), pulling again",
                self.buffer,
                self._outstanding,
            )
            self.lost_pulls += 1
            self._outstanding = 0
        if self._stopping or self._closed or self._sub is None or now < self._backoff_until:
            return
        target = self.pulls_in_flight * self.batch_size
        while self._outstanding + len(self._ready) + self.batch_size <= target:
            self._pull_token += 1
            try:
                await self._nc.publish(
                    self._next_subject, self._pull_request, reply=f"{self._inbox}.{self._pull_token}"
                )
            except (nats.errors.Error, OSError) as err:
                log.warning("buffer %s: pull request failed: %r", self.buffer, err)
                self._backoff_until = now + min(self.read_timeout, 1.0)
                return
            self._outstanding += self.batch_size
            self._last_pull_at = now

    @property
    def exhausted(self) -> bool:
        """Stopped, every pull finished and every delivered message handed out."""
        return (self._stopping or self._closed) and not self._ready and self._outstanding == 0

    async def read(self) -> list[ReadMessage]:
        """The next batch (≤ readBatchSize): as soon as a full batch is buffered or a pull ended, else
        whatever arrived within readTimeout (possibly nothing). After `stop()`, drains, then returns []."""
        if self._closed:
            raise ReaderStoppedError(f"buffer {self.buffer}: reader closed")
        deadline = self._clock() + self.read_timeout
        while True:
            await self._pump()
            if len(self._ready) >= self.batch_size or (self._ready and self._pull_ended):
                break
            if self.exhausted:
                break
            left = deadline - self._clock()
            if left <= 0:
                break
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left)
        self._pull_ended = False
        ready = self._ready
        return [ready.popleft() for _ in range(min(len(ready), self.batch_size))]

    async def batches(self) -> AsyncIterator[list[ReadMessage]]:
        """Non-empty batches until `stop()` has drained the reader."""
        while not self.exhausted:
            batch = await self.read()
            if batch:
                yield batch

    def stop(self) -> None:
        """Stop pulling; outstanding pulls finish (≤ readTimeout) and `read` hands out what they deliver."""
        self._stopping = True
        self._wake.set()

    async def close(self) -> None:
        """Wait (up to 2 x ack_timeout) for background acks, then unsubscribe; messages delivered but never
        handed out are NAKed so they come back at once."""
        self._stopping = True
        if self._ack_tasks:
            try:
                await asyncio.wait_for(self.wait_for_acks(), 2 * self.ack_timeout)
            except TimeoutError:
                log.warning(
                    "buffer %s: %d ack batches unconfirmed at close", self.buffer, len(self._ack_tasks)
                )
                for task in list(self._ack_tasks):
                    task.cancel()
        leftovers = list(self._ready)
        self._ready.clear()
        if leftovers:
            with contextlib.suppress(nats.errors.Error, OSError):
                await self.nak(leftovers)
        self._closed = True
        for sub in (self._sub, self._ack_sub):
            if sub is not None:
                with contextlib.suppress(nats.errors.Error):
                    await unsubscribe_raw(self._nc, sub)
        self._sub = self._ack_sub = None
        self._wake.set()

    # -- acknowledgements ------------------------------------------------------------------------

    def _on_ack_reply(self, subject: bytes, reply: bytes, data: bytes, status: dict[str, str] | None) -> None:
        waiter = self._ack_waiters.pop(subject.decode(), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def ack(self, messages: Sequence[ReadMessage], *, wait: bool = True) -> None:
        """ACK a batch; confirmed by the server, resent until confirmed (cancellable).

        Every message gets `+ACK`; the last one is sent as an AckAck (with a reply). The server handles a
        connection's acks for a consumer in order, so that reply confirms the whole batch. With
        `wait=False` the acks are sent now and confirmed in the background, as NumaFlow's core does;
        `wait_for_acks()` and `close()` wait for those confirmations.
        """
        if not messages:
            return
        sent = await self._send_acks(messages)
        if wait:
            await self._confirm_acks(messages, sent)
            return
        task = asyncio.create_task(self._confirm_acks(messages, sent), name=f"ack-{self.buffer}")
        self._ack_tasks.add(task)
        task.add_done_callback(self._ack_tasks.discard)

    async def wait_for_acks(self) -> None:
        """Wait until every background ack has been confirmed."""
        while self._ack_tasks:
            await asyncio.gather(*self._ack_tasks)

    async def _send_acks(self, messages: Sequence[ReadMessage]) -> tuple[str, asyncio.Future[None]] | None:
        try:
            self._ack_token += 1
            subject = f"{self._ack_inbox}.{self._ack_token}"
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._ack_waiters[subject] = waiter
            await self._send_bodies(messages, ACK, last_reply=subject)
        except (nats.errors.Error, OSError) as err:
            log.warning("buffer %s: sending acks failed: %r", self.buffer, err)
            return None
        return subject, waiter

    async def _confirm_acks(
        self, messages: Sequence[ReadMessage], sent: tuple[str, asyncio.Future[None]] | None
    ) -> None:
        attempt = 1
        while True:
            if sent is not None:
                subject, waiter = sent
                try:
                    await asyncio.wait_for(waiter, self.ack_timeout)
                    return
                except TimeoutError:
                    self._ack_waiters.pop(subject, None)
            else:
                await asyncio.sleep(min(self.ack_timeout, 0.2))
            log.warning(
                "buffer %s: ack of %d messages not confirmed (attempt %d); resending",
                self.buffer,
                len(messages),
                attempt,
            )
            attempt += 1
            sent = await self._send_acks(messages)

    async def _send_bodies(self, messages: Sequence[ReadMessage], body: bytes, last_reply: str = "") -> None:
        """Publish `body` to each message's ack subject; the last one with `last_reply` if given."""
        if not messages:
            return
        if self._frames.enabled:
            frames = [pub(m.reply.encode(), body) for m in messages[:-1]]
            frames.append(pub(messages[-1].reply.encode(), body, last_reply.encode()))
            await self._frames.send(frames, len(body) * len(frames))
            return
        publish = self._nc.publish
        for m in messages[:-1]:
            await publish(m.reply, body)
        await publish(messages[-1].reply, body, reply=last_reply)

    async def nak(self, messages: Sequence[ReadMessage], delay: float | None = None) -> None:
        """Negative-ack: JetStream redelivers each message (after `delay` seconds, if given)."""
        body = NAK if delay is None else NAK + b" " + json.dumps({"delay": int(delay * 1e9)}).encode()
        await self._send_bodies(messages, body)

    async def in_progress(self, messages: Sequence[ReadMessage]) -> None:
        """`+WPI`: restart each message's AckWait timer."""
        await self._send_bodies(messages, IN_PROGRESS)

    async def terminate(self, messages: Sequence[ReadMessage]) -> None:
        """`+TERM`: never redeliver these messages."""
        await self._send_bodies(messages, TERM)

    @contextlib.asynccontextmanager
    async def keep_in_progress(
        self, messages: Sequence[ReadMessage], interval: float | None = None
    ) -> AsyncIterator[None]:
        """While the block runs, send `+WPI` for `messages` every `interval` (default AckWait / 3)."""
        period = interval if interval is not None else self.ack_wait / 3

        async def extend() -> None:
            while True:
                await asyncio.sleep(period)
                try:
                    await self.in_progress(messages)
                except (nats.errors.Error, OSError) as err:
                    log.warning("buffer %s: in-progress extension failed: %r", self.buffer, err)

        task = asyncio.create_task(extend(), name=f"wpi-{self.buffer}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

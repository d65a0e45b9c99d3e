"""The generator source (``source.generator``), as NumaFlow's Rust core generates.

Per tick of ``duration`` up to ``rpu`` messages (floored to a multiple of ``keyCount``; missed ticks are
skipped). Payload: ``valueBlob`` decoded verbatim if set, else JSON
``{"id":"<nanos>-<replica>","value":<value or event time nanos>,"padding":[<msgSize-8 random bytes>]}``
(padding omitted when empty). Offset ``{nanos}-{replica}`` (nanos unique per message), keys
``key-0..key-{n-1}`` round-robin, event time = now - a random whole number of seconds below
``max(jitter, 1)``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import math
import random
import time
from collections.abc import Callable, Sequence

from numaflux.api import GeneratorSource as GeneratorSpec
from numaflux.isb import Message, MessageID

MAX_KEYS = 255
NANOS = 1_000_000_000


class RateGate:
    """Per-tick quota (pure; time passed in seconds)."""

    def __init__(self, rpu: int, duration: float) -> None:
        self.rpu = rpu
        self.duration = max(duration, 0.01)
        self.next_tick: float | None = None
        self.quota = 0

    def take(self, want: int, now: float) -> int:
        """How many may be produced now (≤ want), starting a new tick when due."""
        if self.next_tick is None or now >= self.next_tick:
            ticks = 1 if self.next_tick is None else math.floor((now - self.next_tick) / self.duration) + 1
            self.next_tick = (now if self.next_tick is None else self.next_tick) + ticks * self.duration
            self.quota = self.rpu
        n = min(want, self.quota)
        self.quota -= n
        return n

    def wait_time(self, now: float) -> float:
        """Seconds until more may be produced."""
        if self.quota > 0 or self.next_tick is None:
            return 0.0
        return max(0.0, self.next_tick - now)


def effective_key_count(spec: GeneratorSpec) -> int:
    return min(spec.get_key_count(), MAX_KEYS, max(spec.get_rpu(), 0))


def effective_rpu(spec: GeneratorSpec) -> int:
    keys = effective_key_count(spec)
    rpu = spec.get_rpu()
    return rpu - rpu % keys if keys > 0 else rpu


class Generator:
    """The generator source of one replica."""

    name = "generator"

    def __init__(
        self,
        spec: GeneratorSpec,
        *,
        vertex: str,
        replica: int,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
    ) -> None:
        self.vertex = vertex
        self.replica = replica
        self._clock = clock
        self._wall_ns = wall_ns
        self._rng = rng or random.Random()
        self._gate = RateGate(effective_rpu(spec), spec.get_duration_seconds())
        self._keys = [f"key-{i}" for i in range(effective_key_count(spec))]
        self._next_key = 0
        self._value = spec.value
        self._pad = max(0, spec.get_msg_size() - 8)
        self._jitter = int(spec.get_jitter_seconds())
        self._blob: bytes | None = None
        if spec.value_blob is not None:
            try:
                self._blob = base64.b64decode(spec.value_blob, validate=True)
            except (binascii.Error, ValueError) as err:
                raise ValueError(f"source.generator.valueBlob: not valid base64: {err}") from err
        self._last_ns = 0
        self._stopped = False
        self._stop_event = asyncio.Event()

    @property
    def connected(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    def stop(self) -> None:
        self._stopped = True
        self._stop_event.set()  # a read waiting for the rate gate returns now

    async def read(self, max_messages: int, wait: float) -> list[Message]:
        if self._stopped:
            return []
        n = self._gate.take(max_messages, self._clock())
        if n == 0:
            pause = min(wait, self._gate.wait_time(self._clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), pause)
            if self._stopped:
                return []
            n = self._gate.take(max_messages, self._clock())
        return self.make(n)

    def make(self, n: int) -> list[Message]:
        """`n` new messages now."""
        out: list[Message] = []
        if n <= 0:
            return out
        pad = ""
        if self._blob is None and self._pad:
            pad = ',"padding":' + json.dumps(list(self._rng.randbytes(self._pad)), separators=(",", ":"))
        replica = self.replica
        vertex = self.vertex
        keys = self._keys
        nkeys = len(keys)
        ns = max(self._wall_ns(), self._last_ns + 1)
        jitter = self._jitter
        rng = self._rng
        for _ in range(n):
            offset = f"{ns}-{replica}"
            event_ns = ns - rng.randrange(max(jitter, 1)) * NANOS if jitter else ns
            if self._blob is not None:
                payload = self._blob
            else:
                value = self._value if self._value is not None else event_ns
                payload = f'{{"id":"{offset}","value":{value}{pad}}}'.encode()
            msg_keys: tuple[str, ...] = ()
            if nkeys:
                msg_keys = (keys[self._next_key],)
                self._next_key = (self._next_key + 1) % nkeys
            out.append(Message(payload, MessageID(vertex, offset, 0), event_ns, msg_keys))
            ns += 1
        self._last_ns = ns - 1
        return out

    async def ack(self, messages: Sequence[Message]) -> None:
        return None

    async def nack(self, messages: Sequence[Message]) -> None:
        return None

    async def pending(self) -> int | None:
        return None

    async def close(self) -> None:
        return None

"""The work queue between event handlers and reconcilers (client-go's rate-limited delaying queue).

- A key waiting in the queue is there once, however often it is added (de-duplication).
- A key being processed is never handed out again until `done(key)`; adds meanwhile mark it dirty and
  it is queued again on `done`.
- `add_after(key, seconds)` holds the key back (the earliest of several requests wins);
  `add_rate_limited(key)` holds it back for the key's exponential back-off, which `forget(key)` resets.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections import deque

from numaflux.controller.clock import Clock, SystemClock


class ExponentialBackoff:
    """Per-key delay `base * 2**failures`, capped."""

    def __init__(self, base: float = 0.005, cap: float = 300.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[str, int] = {}

    def when(self, key: str) -> float:
        """The next delay for `key`; counts one more failure."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        return float(min(self.cap, self.base * 2**failures))

    def retries(self, key: str) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)


class WorkQueue:
    """Keys to reconcile; `get()` returns None once the queue is shut down and drained of due keys."""

    def __init__(self, clock: Clock | None = None, backoff: ExponentialBackoff | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.backoff = backoff or ExponentialBackoff()
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiting: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._changed = asyncio.Event()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, key: str) -> None:
        """Queue `key` now (no-op if already queued; deferred if it is being processed)."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._changed.set()

    def add_after(self, key: str, seconds: float) -> None:
        """Queue `key` once `seconds` have passed on the clock."""
        if self._shutting_down:
            return
        if seconds <= 0:
            self.add(key)
            return
        ready_at = self.clock.monotonic() + seconds
        current = self._waiting.get(key)
        if current is not None and current <= ready_at:
            return
        self._waiting[key] = ready_at
        heapq.heappush(self._heap, (ready_at, key))
        self._changed.set()

    def add_rate_limited(self, key: str) -> None:
        """Queue `key` after its back-off delay (which grows with each call until `forget`)."""
        self.add_after(key, self.backoff.when(key))

    def forget(self, key: str) -> None:
        """Reset the back-off of `key` (after a successful reconcile)."""
        self.backoff.forget(key)

    def get_nowait(self) -> str | None:
        """The next due key (marked as processing), or None."""
        self._promote()
        if not self._queue:
            return None
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    async def get(self) -> str | None:
        """Wait for the next due key; None after `shutdown()`."""
        while True:
            if self._shutting_down:
                return None
            key = self.get_nowait()
            if key is not None:
                return key
            self._changed.clear()
            timeout = None
            if self._heap:
                timeout = max(0.0, self._heap[0][0] - self.clock.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    def done(self, key: str) -> None:
        """Processing of `key` finished; queue it again if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty and not self._shutting_down:
            self._queue.append(key)
            self._changed.set()

    def processing(self) -> int:
        """How many keys are being processed."""
        return len(self._processing)

    def shutdown(self) -> None:
        """Stop handing out keys; waiting `get()` calls return None."""
        self._shutting_down = True
        self._changed.set()

    def _promote(self) -> None:
        now = self.clock.monotonic()
        while self._heap and self._heap[0][0] <= now:
            ready_at, key = heapq.heappop(self._heap)
            if self._waiting.get(key) == ready_at:
                del self._waiting[key]
                self.add(key)

"""Aggregation of repeated kubelet events (pure; the clock is an argument).

A probe that keeps failing reports the same event every period. Like a kubelet, repeats of one event
(same pod, type, reason, message and field) within `window` seconds update the `count` of a single
Event object instead of creating new ones, and updates are sent at most every `min_interval` seconds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

EventKey = tuple[str, str, str, str, str]
"""(pod uid, type, reason, message, fieldPath)."""


@dataclass
class _Series:
    name: str
    count: int
    first_seen: float
    last_seen: float
    last_sent: float


@dataclass(frozen=True)
class Decision:
    """What to send for one occurrence: a new Event, a count update of `name`, or nothing yet."""

    action: Literal["create", "update", "skip"]
    name: str
    count: int


class EventAggregator:
    """Tracks event series per key."""

    def __init__(self, window: float = 600.0, min_interval: float = 10.0, max_series: int = 4096) -> None:
        self.window = window
        self.min_interval = min_interval
        self.max_series = max_series
        self._series: dict[EventKey, _Series] = {}

    def record(self, key: EventKey, pod_name: str, now: float) -> Decision:
        """Account for one occurrence of the event `key` at `now`."""
        series = self._series.get(key)
        if series is None or now - series.last_seen > self.window:
            self._evict(now)
            name = f"{pod_name}.{uuid.uuid4().hex[:16]}"
            self._series[key] = _Series(name, 1, now, now, now)
            return Decision("create", name, 1)
        series.count += 1
        series.last_seen = now
        if now - series.last_sent < self.min_interval:
            return Decision("skip", series.name, series.count)
        series.last_sent = now
        return Decision("update", series.name, series.count)

    def _evict(self, now: float) -> None:
        if len(self._series) < self.max_series:
            return
        for key in [k for k, s in self._series.items() if now - s.last_seen > self.window]:
            del self._series[key]
        while len(self._series) >= self.max_series:
            del self._series[next(iter(self._series))]

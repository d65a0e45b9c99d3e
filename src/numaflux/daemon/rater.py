"""Processing rates and pending counts from timestamped snapshots (NumaFlow's rater arithmetic, pure).

Every scrape tick adds one `Snapshot` per vertex: the read counter of each pod (keyed by replica) per
partition, and the pending gauge per partition, all stamped with the tick's time. The last snapshot may be
incomplete, so rates end at the one before it. Times are seconds; `now` is always passed in.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from numaflux.api import constants

QUEUE_CAPACITY = 360  # 30 min of 5 s ticks
RATE_NOT_AVAILABLE = float(-(2**63))  # NumaFlow's rateNotAvailable: float64(math.MinInt)
PENDING_NOT_AVAILABLE = -(2**63)  # NumaFlow's isb.PendingNotAvailable: math.MinInt64
FIXED_WINDOWS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900}
DEFAULT_WINDOW = "default"
WINDOW_NAMES = (DEFAULT_WINDOW, *FIXED_WINDOWS)
MAX_LOOKBACK_SECONDS = constants.MAX_LOOKBACK_SECONDS


@dataclass(slots=True)
class Snapshot:
    """What one tick saw for one vertex: `reads[pod][partition]` counters and `pending[partition]`."""

    timestamp: float
    reads: dict[str, dict[str, float]] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)

    def partition_total(self, partition: str) -> float:
        """Read count of `partition` summed over pods."""
        return sum(counts.get(partition, 0.0) for counts in self.reads.values())


def find_start_index(snapshots: Sequence[Snapshot], lookback: float, now: float) -> int | None:
    """First index (at most n-2) whose timestamp is within `lookback` of `now`; None when fewer than two
    snapshots exist or the last complete one (n-2) is already older than the lookback."""
    n = len(snapshots)
    if n < 2 or now - snapshots[n - 2].timestamp > lookback:
        return None
    oldest = now - lookback
    lo, hi, start = 0, n - 2, n - 2
    while lo <= hi:
        mid = (lo + hi) // 2
        if snapshots[mid].timestamp >= oldest:
            start, hi = mid, mid - 1
        else:
            lo = mid + 1
    return start


def partition_delta(prev: Snapshot, curr: Snapshot, partition: str) -> float:
    """Messages read from `partition` between two snapshots, summed over the pods in `curr`.

    A pod whose counter went down restarted, and one absent from `prev` is new: either way its whole
    current count is the delta.
    """
    delta = 0.0
    for pod, counts in curr.reads.items():
        now_count = counts.get(partition, 0.0)
        before = prev.reads.get(pod, {}).get(partition, 0.0)
        delta += now_count - before if now_count >= before else now_count
    return delta


def calculate_rate(snapshots: Sequence[Snapshot], lookback: float, partition: str, now: float) -> float:
    """Messages/s read from `partition` over the last `lookback` seconds, or RATE_NOT_AVAILABLE."""
    start = find_start_index(snapshots, lookback, now)
    if start is None:
        return RATE_NOT_AVAILABLE
    end = len(snapshots) - 2
    elapsed = snapshots[end].timestamp - snapshots[start].timestamp
    if elapsed <= 0:  # a single complete snapshot in the window spans no time
        return RATE_NOT_AVAILABLE
    delta = sum(partition_delta(snapshots[i], snapshots[i + 1], partition) for i in range(start, end))
    return delta / elapsed


def calculate_pending(snapshots: Sequence[Snapshot], lookback: float, partition: str, now: float) -> int:
    """Average pending of `partition` over the snapshots in the lookback (including the newest, integer
    division as NumaFlow's int64 arithmetic), or PENDING_NOT_AVAILABLE."""
    start = find_start_index(snapshots, lookback, now)
    if start is None:
        return PENDING_NOT_AVAILABLE
    samples = [s.pending[partition] for s in snapshots[start:] if partition in s.pending]
    if not samples:
        return PENDING_NOT_AVAILABLE
    return sum(samples) // len(samples)


def longest_unchanged_seconds(snapshots: Sequence[Snapshot], start: int, end: int, partition: str) -> float:
    """Longest time between two consecutive changes of `partition`'s total read count in [start, end),
    counting only while messages were waiting.

    A snapshot that saw nothing pending, or no pod at all, restarts the count: a vertex that reads nothing
    because nothing arrives (or no replica runs) is idle, not slow. NumaFlow counts idle time too, so after
    a quiet spell its lookback stretches towards 600 s, the first rates of the next burst are averaged over
    the quiet, and the autoscaler swings between min and max. Snapshots without a pending sample (but
    with pods) count as waiting."""
    longest = 0.0
    last_value: float | None = None
    last_change = 0.0
    for s in snapshots[start:end]:
        value = s.partition_total(partition)
        if last_value is None or not s.reads or s.pending.get(partition) == 0:
            last_value, last_change = value, s.timestamp
        elif value != last_value:
            longest = max(longest, s.timestamp - last_change)
            last_value, last_change = value, s.timestamp
    return longest


def next_lookback(
    snapshots: Sequence[Snapshot],
    partitions: Iterable[str],
    current: float,
    configured: float,
    now: float,
    cap: float = MAX_LOOKBACK_SECONDS,
) -> float:
    """The dynamic lookback after one update, or `current` when there is not enough data.

    Looks at the last `3 * current` seconds for the longest period in which a partition's read count did
    not change while messages were pending; when that is longer than `current`, the new value is it rounded
    up to a whole minute, at most `cap`; when it rounds below `current`, it falls to no less than
    `configured`.
    """
    start = find_start_index(snapshots, 3 * current, now)
    if start is None:
        return current
    end = len(snapshots) - 1
    longest = max((longest_unchanged_seconds(snapshots, start, end, p) for p in partitions), default=0.0)
    rounded = 60.0 * math.ceil(longest / 60.0)
    # NumaFlow compares the rounded value, so with a lookback under a minute any pause between two reads
    # (one scrape interval) would raise it to 60 s.
    if longest > current:
        return min(cap, rounded)
    if rounded < current:
        return max(rounded, configured)
    return current


class VertexRates:
    """The snapshot queue and dynamic lookback of one vertex."""

    def __init__(
        self, vertex: str, partitions: Sequence[str], lookback: float, capacity: int = QUEUE_CAPACITY
    ):
        self.vertex = vertex
        self.partitions = list(partitions)
        self.configured_lookback = float(lookback)
        self.lookback = float(lookback)
        self.snapshots: deque[Snapshot] = deque(maxlen=capacity)

    def record(
        self, timestamp: float, reads: Mapping[str, Mapping[str, float]], pending: Mapping[str, int]
    ) -> Snapshot:
        """Add (or merge into, for the same timestamp) the snapshot of one tick."""
        if self.snapshots and self.snapshots[-1].timestamp == timestamp:
            snap = self.snapshots[-1]
        else:
            snap = Snapshot(timestamp)
            self.snapshots.append(snap)
        for pod, counts in reads.items():
            snap.reads[pod] = dict(counts)
        snap.pending.update(pending)
        return snap

    def windows(self) -> dict[str, float]:
        """Window name → lookback seconds: `default` (dynamic) and the fixed 1m / 5m / 15m."""
        return {DEFAULT_WINDOW: self.lookback, **{k: float(v) for k, v in FIXED_WINDOWS.items()}}

    def rates(self, partition: str, now: float) -> dict[str, float]:
        snaps = list(self.snapshots)
        return {name: calculate_rate(snaps, lb, partition, now) for name, lb in self.windows().items()}

    def pendings(self, partition: str, now: float) -> dict[str, int]:
        snaps = list(self.snapshots)
        return {name: calculate_pending(snaps, lb, partition, now) for name, lb in self.windows().items()}

    def update_lookback(self, now: float) -> float:
        """Apply the dynamic lookback rule once; returns the new value."""
        self.lookback = next_lookback(
            list(self.snapshots), self.partitions, self.lookback, self.configured_lookback, now
        )
        return self.lookback

"""NumaFlow's rater arithmetic with exact numbers: rates, pending averages, lookback windows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from numaflux.daemon.rater import (
    PENDING_NOT_AVAILABLE,
    RATE_NOT_AVAILABLE,
    Snapshot,
    VertexRates,
    calculate_pending,
    calculate_rate,
    find_start_index,
    longest_unchanged_seconds,
    next_lookback,
)

P = "ns-pl-cat-0"


def snaps(*points: tuple[float, dict[str, float], int | None]) -> list[Snapshot]:
    """(timestamp, {pod: count}, pending) → snapshots for partition P."""
    out = []
    for ts, counts, pending in points:
        s = Snapshot(ts, {pod: {P: c} for pod, c in counts.items()})
        if pending is not None:
            s.pending[P] = pending
        out.append(s)
    return out


def test_rate_uses_deltas_up_to_the_last_complete_snapshot() -> None:
    q = snaps((0, {"a": 0}, 0), (5, {"a": 50}, 0), (10, {"a": 100}, 0), (15, {"a": 999}, 0))
    # start 0, end n-2 = index 2 (ts 10): 100 messages in 10 s; the incomplete last snapshot is ignored
    assert calculate_rate(q, 60, P, now=15) == 10.0


def test_rate_sums_pods_and_counts_a_restarted_pod_from_zero() -> None:
    q = snaps(
        (0, {"a": 100, "b": 0}, None),
        (5, {"a": 200, "b": 10}, None),
        (10, {"a": 30, "b": 20}, None),  # a restarted: its delta is 30
        (15, {"a": 80, "b": 30}, None),
        (20, {"a": 90, "b": 40}, None),
    )
    # deltas: (100+10) + (30+10) + (50+10) = 210 over ts 0..15
    assert calculate_rate(q, 60, P, now=20) == 14.0


def test_a_pod_absent_from_the_previous_snapshot_counts_its_whole_counter() -> None:
    q = snaps((0, {"a": 10}, None), (5, {"a": 20, "b": 7}, None), (10, {"a": 20}, None))
    assert calculate_rate(q, 60, P, now=10) == (10 + 7) / 5


def test_lookback_starts_at_the_first_snapshot_inside_the_window() -> None:
    q = snaps(*[(t, {"a": t * t}, t) for t in range(0, 65, 5)])  # ts 0..60
    assert find_start_index(q, 20, now=60) == 8  # ts 40
    # from ts 40 (1600) to ts 55 (3025)
    assert calculate_rate(q, 20, P, now=60) == (3025 - 1600) / 15
    # pending averages over [start, n-1]: 40, 45, 50, 55, 60
    assert calculate_pending(q, 20, P, now=60) == 50


def test_pending_is_the_integer_average_of_the_samples_in_the_window() -> None:
    q = snaps((0, {}, 10), (5, {}, 20), (10, {}, 31))
    assert calculate_pending(q, 60, P, now=10) == 20  # 61 // 3


def test_snapshots_without_the_partition_are_left_out_of_the_pending_average() -> None:
    q = snaps((0, {}, None), (5, {}, 9), (10, {}, None))
    assert calculate_pending(q, 60, P, now=10) == 9
    assert calculate_pending(snaps((0, {}, None), (5, {}, None)), 60, P, now=5) == PENDING_NOT_AVAILABLE


def test_rate_is_not_available_without_two_snapshots_or_with_stale_data() -> None:
    assert calculate_rate(snaps((0, {"a": 5}, 1)), 60, P, now=0) == RATE_NOT_AVAILABLE
    assert calculate_pending(snaps((0, {"a": 5}, 1)), 60, P, now=0) == PENDING_NOT_AVAILABLE
    two = snaps((0, {"a": 0}, 1), (5, {"a": 5}, 1))
    assert calculate_rate(two, 60, P, now=5) == RATE_NOT_AVAILABLE  # one complete snapshot spans no time
    three = snaps((0, {"a": 0}, 1), (5, {"a": 5}, 1), (10, {"a": 9}, 1))
    assert calculate_rate(three, 60, P, now=10) == 1.0
    # the last complete snapshot (ts 5) is more than 60 s old
    assert calculate_rate(three, 60, P, now=66) == RATE_NOT_AVAILABLE
    assert calculate_pending(three, 60, P, now=66) == PENDING_NOT_AVAILABLE


def test_windows_are_default_1m_5m_15m_with_default_the_vertex_lookback() -> None:
    rates = VertexRates("cat", [P], lookback=30)
    for t in range(0, 125, 5):
        rates.record(t, {"cat-0": {P: 2.0 * t}}, {P: t})
    assert rates.windows() == {"default": 30.0, "1m": 60.0, "5m": 300.0, "15m": 900.0}
    assert rates.rates(P, now=120) == {"default": 2.0, "1m": 2.0, "5m": 2.0, "15m": 2.0}
    # default: ts 90..120 → 105; 1m: ts 60..120 → 90; 5m/15m: ts 0..120 → 60
    assert rates.pendings(P, now=120) == {"default": 105, "1m": 90, "5m": 60, "15m": 60}


def test_recording_the_same_timestamp_twice_merges_into_one_snapshot() -> None:
    rates = VertexRates("cat", [P], lookback=60)
    rates.record(5, {"cat-0": {P: 1.0}}, {P: 3})
    rates.record(5, {"cat-1": {P: 2.0}}, {})
    assert len(rates.snapshots) == 1
    assert rates.snapshots[0].partition_total(P) == 3.0
    assert rates.snapshots[0].pending == {P: 3}


def _counting(values: dict[int, float], until: int) -> list[Snapshot]:
    """A snapshot every 5 s up to `until`; the count is the latest value set at or before each time."""
    out = []
    current = 0.0
    for t in range(0, until + 1, 5):
        current = values.get(t, current)
        out.append(Snapshot(t, {"cat-0": {P: current}}))
    return out


def test_dynamic_lookback_rises_to_the_longest_idle_period_rounded_up_to_a_minute() -> None:
    values = {t: float(t) for t in range(0, 361, 5) if not 100 < t < 250}
    q = _counting(values, 360)  # unchanged from 100 until 250: 150 s
    assert next_lookback(q, [P], current=120, configured=120, now=360) == 180.0


def _with_pending(snapshots: list[Snapshot], pending: int) -> list[Snapshot]:
    for snap in snapshots:
        snap.pending[P] = pending
    return snapshots


def test_dynamic_lookback_rises_only_for_a_period_with_messages_waiting() -> None:
    values = {t: float(t) for t in range(0, 361, 5) if not 100 < t < 250}
    # The same 150 s without reads: nothing pending (idle) keeps the lookback, messages pending raise it.
    idle = _with_pending(_counting(values, 360), 0)
    assert next_lookback(idle, [P], current=120, configured=120, now=360) == 120.0
    slow = _with_pending(_counting(values, 360), 7)
    assert next_lookback(slow, [P], current=120, configured=120, now=360) == 180.0


def test_an_idle_spell_ends_the_count_and_waiting_starts_it_again() -> None:
    values = {t: float(t) for t in range(0, 361, 5) if not 100 < t < 250}
    q = _counting(values, 360)
    for snap in q:  # idle from 100 to 180, then 70 s with messages waiting and no reads
        snap.pending[P] = 0 if 100 <= snap.timestamp <= 180 else 4
    assert next_lookback(q, [P], current=120, configured=120, now=360) == 120.0
    assert longest_unchanged_seconds(q, 0, len(q) - 1, P) == 70.0


def test_a_spell_at_zero_pods_is_idle_whatever_was_pending() -> None:
    q = [Snapshot(t, {"cat-0": {P: float(t)}} if not 100 < t < 250 else {}) for t in range(0, 361, 5)]
    assert next_lookback(q, [P], current=120, configured=120, now=360) == 120.0


def test_dynamic_lookback_falls_back_but_never_below_the_configured_value() -> None:
    q = _counting({t: float(t) for t in range(0, 541, 5)}, 540)  # changes every 5 s → 60 s after rounding
    assert next_lookback(q, [P], current=180, configured=120, now=540) == 120.0
    assert next_lookback(q, [P], current=180, configured=30, now=540) == 60.0


def test_a_lookback_under_a_minute_is_not_raised_by_the_gap_between_two_reads() -> None:
    q = _counting({t: float(t) for t in range(0, 61, 5)}, 60)  # a read every 5 s, lookback 10 s
    assert next_lookback(q, [P], current=10, configured=10, now=60) == 10.0
    q = _counting({0: 0.0, 5: 1.0, 35: 2.0, 60: 3.0}, 65)  # 25 s without a read in the last 30 s
    assert next_lookback(q, [P], current=10, configured=10, now=65) == 60.0


def test_dynamic_lookback_is_capped_at_600_seconds() -> None:
    values = {0: 0.0, 5: 1.0, 1000: 2.0, 1005: 3.0}
    q = _counting(values, 1010)
    assert next_lookback(q, [P], current=400, configured=120, now=1010) == 600.0


def test_dynamic_lookback_keeps_its_value_without_data() -> None:
    assert next_lookback([Snapshot(0)], [P], current=120, configured=120, now=0) == 120


@given(
    st.lists(st.integers(min_value=0, max_value=10_000), min_size=3, max_size=40),
    st.integers(min_value=1, max_value=900),
)
def test_rate_of_a_monotonic_counter_is_never_negative_and_matches_the_window(
    increments: list[int], lookback: int
) -> None:
    counts, total = [], 0
    for inc in increments:
        total += inc
        counts.append(total)
    q = snaps(*[(5 * i, {"a": float(c)}, None) for i, c in enumerate(counts)])
    now = 5 * (len(counts) - 1)
    rate = calculate_rate(q, lookback, P, now)
    start = find_start_index(q, lookback, now)
    end = len(q) - 2
    if start is None or start == end:
        assert rate == RATE_NOT_AVAILABLE
    else:
        assert rate >= 0
        assert rate == (counts[end] - counts[start]) / (5 * (end - start))

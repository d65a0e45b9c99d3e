"""The writer's buffer-full arithmetic and BufferInfo's usage rules (pure, clock passed in)."""

from __future__ import annotations

import pytest

from numaflux.isb import BufferInfo, OnFull
from numaflux.isb.info import FullnessGauge


def test_usage_is_unprocessed_over_length_and_full_at_the_limit() -> None:
    info = BufferInfo("b", pending=70, ack_pending=10, total_messages=80, buffer_length=100, usage_limit=0.8)
    assert info.usage == 0.8
    assert info.is_full
    assert not info.is_drained


def test_usage_is_capped_by_total_messages() -> None:
    info = BufferInfo("b", pending=50, ack_pending=0, total_messages=20, buffer_length=100, usage_limit=0.8)
    assert info.usage == 0.2
    assert not info.is_full


def test_gauge_starts_full_until_counters_arrive() -> None:
    gauge = FullnessGauge(10, 0.8)
    assert gauge.is_full()
    assert gauge.due(now=0.0)
    gauge.update(pending=3, ack_pending=2, now=0.0)
    assert gauge.room() == 3


def test_gauge_counts_own_writes_until_the_next_refresh() -> None:
    gauge = FullnessGauge(10, 0.8, refresh_interval=1.0)
    gauge.update(0, 0, now=5.0)
    gauge.record_writes(6)
    assert gauge.room() == 2
    assert not gauge.due(now=5.9)
    assert gauge.due(now=6.0)
    gauge.update(1, 0, now=6.0)
    assert gauge.room() == 7


@pytest.mark.parametrize(
    ("length", "limit", "capacity"), [(30_000, 0.8, 24_000), (10, 0.7, 7), (10, 0.75, 8)]
)
def test_capacity_is_what_fits_below_the_usage_limit(length: int, limit: float, capacity: int) -> None:
    assert FullnessGauge(length, limit).capacity == capacity


def test_invalid_limits_name_the_field() -> None:
    with pytest.raises(ValueError, match="bufferMaxLength"):
        FullnessGauge(0, 0.8)
    with pytest.raises(ValueError, match="bufferUsageLimit"):
        FullnessGauge(10, 1.5)


def test_on_full_parses_numaflow_values() -> None:
    assert OnFull.parse(None) is OnFull.RETRY_UNTIL_SUCCESS
    assert OnFull.parse("discardLatest") is OnFull.DISCARD_LATEST
    with pytest.raises(ValueError, match="onFull"):
        OnFull.parse("dropAll")

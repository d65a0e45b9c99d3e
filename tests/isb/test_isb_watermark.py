"""Watermarks in OT buckets: WMB encoding, monotonic publishing, minimum over processors and partitions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.js import JetStreamContext

from numaflux.isb import WMB, WatermarkFetcher, WatermarkPublisher, create_buckets, delete_buckets
from numaflux.isb.config import ot_bucket_name
from numaflux.isb.watermark import DELETED_AFTER, ProcessorTable, decode_wmb, encode_wmb

from .conftest import SESSION_LOOP, unique

int64 = st.integers(-(2**63), 2**63 - 1)
int32 = st.integers(-(2**31), 2**31 - 1)


@given(st.builds(WMB, st.booleans(), int64, int64, int32, st.none() | int32))
def test_wmb_protobuf_round_trips(wmb: WMB) -> None:
    assert decode_wmb(encode_wmb(wmb)) == wmb


def test_wmb_bytes_follow_the_protobuf_field_numbers() -> None:
    assert (
        encode_wmb(WMB(idle=True, offset=5, watermark=300, partition=2))
        == b"\x08\x01\x10\x05\x18\xac\x02\x20\x02"
    )
    assert encode_wmb(WMB(False, 0, -1, 0)) == b"\x18" + b"\xff" * 9 + b"\x01"


def test_a_processor_timeline_answers_by_offset() -> None:
    table = ProcessorTable()
    table.apply("a-0", WMB(False, 10, 1000, 0), now=0.0)
    table.apply("a-0", WMB(False, 20, 2000, 0), now=0.0)
    assert table.watermark_at(0, 5, now=0.0) == -1
    assert table.watermark_at(0, 15, now=0.0) == 1000
    assert table.watermark_at(0, 25, now=0.0) == 2000


def test_the_slowest_processor_holds_the_watermark_until_it_is_gone() -> None:
    table = ProcessorTable()
    table.apply("a-0", WMB(False, 10, 5000, 0), now=0.0)
    table.apply("a-1", WMB(False, 10, 3000, 0), now=0.0)
    assert table.watermark_at(0, 11, now=1.0) == 3000
    assert table.head_watermark([0], now=1.0) == 3000
    table.apply("a-0", WMB(False, 20, 6000, 0), now=DELETED_AFTER)
    assert table.watermark_at(0, 21, now=DELETED_AFTER + 0.5) == 6000


def test_a_partition_without_entries_means_no_watermark_yet() -> None:
    table = ProcessorTable()
    table.apply("a-0", WMB(False, 10, 5000, 0), now=0.0)
    assert table.head_watermark([0, 1], now=0.0) == -1
    assert ProcessorTable().head_watermark([0], now=0.0) == -1


async def eventually(condition: Callable[[], bool], attempts: int = 500) -> None:
    for _ in range(attempts):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


@SESSION_LOOP
@pytest.mark.timeout(30)
async def test_published_watermarks_are_fetched_as_the_minimum(js: JetStreamContext) -> None:
    bucket = unique("ns-pl-in-out")
    await create_buckets(js, [bucket])
    try:
        kv = await js.key_value(ot_bucket_name(bucket))
        p0 = WatermarkPublisher(kv, "in-0")
        p1 = WatermarkPublisher(kv, "in-1")
        await p0.publish(0, offset=10, watermark=1000)
        fetcher = WatermarkFetcher(kv)
        await asyncio.wait_for(fetcher.start(), 10)
        await p1.publish(0, offset=12, watermark=800)
        await p0.publish(1, offset=4, watermark=1500)
        await p1.publish(1, offset=7, watermark=1200)
        clamped = await p0.publish(0, offset=9, watermark=900)
        assert (clamped.offset, clamped.watermark) == (10, 1000)

        await eventually(lambda: fetcher.head_watermark([0, 1]) == 800)
        assert fetcher.watermark_at(0, 11) == -1  # in-1 has nothing below offset 11 yet
        assert fetcher.watermark_at(0, 13) == 800
        assert fetcher.watermark_at(1, 8) == 1200
        await p1.publish(0, offset=30, watermark=1700)

        await eventually(lambda: fetcher.watermark_at(0, 31) == 1000)
        await fetcher.stop()
    finally:
        await delete_buckets(js, [bucket])

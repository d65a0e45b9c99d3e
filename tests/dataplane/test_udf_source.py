"""User-defined source and source transformer clients against the bundled examples."""

from __future__ import annotations

import asyncio
import time

import pytest

from numaflux.dataplane.udf import SourceClient, SourceTransformClient, UDFDatum, UDFPaths

pytestmark = pytest.mark.timeout(60)


async def test_simple_source_reads_acks_and_reports_pending_and_partitions(udf_server, udf_dir):
    udf_server("simple_source")
    client = SourceClient(UDFPaths(udf_dir), connect_timeout=30)
    await asyncio.wait_for(client.connect(), 40)
    try:
        first = await client.read(5, 100)
        assert [m.payload for m in first] == [b"0", b"1", b"2", b"3", b"4"]
        assert {m.offset.partition_id for m in first} == {0}
        assert len({m.offset.offset for m in first}) == 5
        assert await client.pending() == 5
        # nothing new is read while offsets are unacked (upstream simple-source behaviour)
        assert await client.read(5, 100) == []
        await client.ack([m.offset for m in first[:3]])
        assert await client.pending() == 2
        await client.ack([m.offset for m in first[3:]])
        assert await client.pending() == 0
        second = await client.read(3, 100)
        assert [m.payload for m in second] == [b"5", b"6", b"7"]
        await client.nack([second[2].offset])
        await client.ack([m.offset for m in second[:2]])
        redelivered = await client.read(3, 100)
        assert [(m.payload, m.offset) for m in redelivered] == [(b"7", second[2].offset)]
        partitions = await client.partitions()
        assert (partitions.partitions, partitions.total) == ([0], None)
    finally:
        await client.close()


async def test_transformer_sets_event_time_to_now_and_keeps_keys(udf_server, udf_dir):
    udf_server("source_transformer_now")
    client = SourceTransformClient(UDFPaths(udf_dir), connect_timeout=30)
    await asyncio.wait_for(client.connect(), 40)
    try:
        before = int(time.time() * 1000)
        batch = [UDFDatum(id=f"o-{i}", value=b"v", keys=["a", "b"], event_time_ms=1000) for i in range(50)]
        out = await client.transform_batch(batch)
        after = int(time.time() * 1000)
        assert set(out) == {d.id for d in batch}
        for results in out.values():
            [r] = results
            assert r.keys == ["a", "b"] and r.value == b"v"
            assert before <= r.event_time_ms <= after
    finally:
        await client.close()


async def test_reconnecting_to_a_live_source_keeps_its_state(udf_server, udf_dir):
    udf_server("simple_source")
    client = SourceClient(UDFPaths(udf_dir), connect_timeout=30)
    await asyncio.wait_for(client.connect(), 40)
    try:
        first = await client.read(2, 100)
        await asyncio.wait_for(client.reconnect(), 40)
        assert await client.pending() == 2
        await client.ack([m.offset for m in first])
        assert [m.payload for m in await client.read(1, 100)] == [b"2"]
    finally:
        await client.close()

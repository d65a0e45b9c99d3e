"""Watermarks across real vertex processes: the source publishes the min event time of its batches to
the out edge's OT bucket, the map vertex fetches it and publishes its own (never ahead of the source);
`watermark.disabled` publishes nothing."""

from __future__ import annotations

import time

import pytest
from pipeline_harness import Topology, VertexProc, generator, nats_server, wait_for

from numaflux.isb import connect
from numaflux.isb.config import ot_bucket_name
from numaflux.isb.watermark import decode_wmb

__all__ = ["nats_server"]


async def watermark(url: str, bucket: str, processor: str) -> int:
    nc = await connect(url)
    try:
        kv = await nc.jetstream().key_value(ot_bucket_name(bucket))
        try:
            entry = await kv.get(processor)
        except Exception:  # absent key
            return -1
        return decode_wmb(entry.value or b"").watermark
    finally:
        await nc.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("disabled", [False, True])
async def test_watermarks_flow_from_source_to_map_output(nats_server, tmp_path, disabled):
    topo = Topology(
        vertices=[
            {"name": "in", "source": generator(100, "100ms")},
            {"name": "cat", "udf": {"container": {"image": "map"}}},
            {"name": "out", "sink": {"blackhole": {}}},
        ],
        edges=[{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
    )
    if disabled:
        for v in topo.vertices:
            v["watermark"] = {"disabled": True}
    await topo.create(nats_server.url)
    in_cat, cat_out = topo.buckets()
    procs = [VertexProc(topo, n, nats_server.url, tmp_path) for n in ("out", "cat", "in")]
    before = int(time.time() * 1000)
    try:
        procs[1].udf("map_cat")
        for p in procs:
            p.start()
        for p in procs:
            await p.wait_ready()
        await wait_for(lambda: procs[0].metric("forwarder_ack_total") >= 500, 60, "traffic at the sink")
        source_wm = await watermark(nats_server.url, in_cat, "in-0")
        map_wm = await watermark(nats_server.url, cat_out, "cat-0")
        if disabled:
            assert (source_wm, map_wm) == (-1, -1)
            return
        assert before - 1000 <= source_wm <= int(time.time() * 1000)
        assert 0 < map_wm <= await watermark(nats_server.url, in_cat, "in-0")
    finally:
        for p in procs:
            p.stop()

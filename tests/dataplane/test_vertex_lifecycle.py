"""Vertex process behaviour around the happy path: a cycle back to the same vertex (the upstream
cycle-to-self example), onFull discardLatest dropping and counting, SIGTERM mid-stream finishing and
acking in-flight work (exit 0, nothing lost after restart), pending and health endpoints."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import pytest
from pipeline_harness import (
    Topology,
    VertexProc,
    generator,
    nats_server,
    produced_ids,
    report,
    stream_count,
    wait_for,
)

from numaflux.isb.server import free_port

__all__ = ["nats_server"]

UDF = {"udf": {"container": {"image": "map"}}}


@pytest.mark.timeout(120)
async def test_a_cycle_to_self_retries_each_message_three_times_then_forwards_it(nats_server, tmp_path):
    http_port = free_port()
    topo = Topology(
        vertices=[
            {"name": "in", "source": {"http": {"ports": {"https": free_port(), "http": http_port}}}},
            {"name": "retry", **UDF},
            {"name": "out", "sink": {"log": {}}},
        ],
        edges=[
            {"from": "in", "to": "retry"},
            {"from": "retry", "to": "retry", "conditions": {"tags": {"values": ["retry"]}}},
            {"from": "retry", "to": "out", "conditions": {"tags": {"operator": "not", "values": ["retry"]}}},
        ],
    )
    await topo.create(nats_server.url)
    procs = {n: VertexProc(topo, n, nats_server.url, tmp_path) for n in ("out", "retry", "in")}
    try:
        procs["retry"].udf("map_retry")
        for p in procs.values():
            p.start()
        for p in procs.values():
            await p.wait_ready()
        async with aiohttp.ClientSession() as s:
            for i in range(50):
                async with s.post(f"http://127.0.0.1:{http_port}/vertices/in", data=f"m{i}".encode()) as r:
                    assert r.status == 200
        out = procs["out"]
        await wait_for(lambda: len(out.log_lines()) >= 50, 60, "every message at out")
        got = Counter(line[0] for line in out.log_lines())
        report("cycle", out=len(got), retry_reads=procs["retry"].metric("forwarder_read_total"))
        assert got == Counter({f"m{i}": 1 for i in range(50)})
        assert procs["retry"].metric("forwarder_read_total") == 150
    finally:
        for p in procs.values():
            p.stop()


@pytest.mark.timeout(90)
async def test_discard_latest_drops_and_counts_when_the_next_buffer_is_full(nats_server, tmp_path):
    topo = Topology(
        vertices=[
            {"name": "in", "source": generator(50, "100ms")},
            {"name": "out", "sink": {"log": {}}, "limits": {"bufferMaxLength": 100, "bufferUsageLimit": 50}},
        ],
        edges=[{"from": "in", "to": "out", "onFull": "discardLatest"}],
    )
    await topo.create(nats_server.url)
    src = VertexProc(topo, "in", nats_server.url, tmp_path)
    try:
        src.start()  # nobody reads `out`: it fills to 50 and the rest is dropped
        await src.wait_ready()
        await wait_for(lambda: src.metric("forwarder_drop_total", reason="buffer-full") >= 200, 60, "drops")
        dropped = src.metric("forwarder_drop_total", reason="buffer-full")
        written = src.metric("forwarder_write_total")
        read = src.metric("forwarder_read_total")  # last: it only grows
        stored = await stream_count(nats_server.url, topo.buffers("out")[0])
        report("discard-latest", read=read, written=written, stored=stored, dropped=dropped)
        assert stored == written == 50
        assert dropped >= 200
        assert dropped + written <= read
        assert src.metric("forwarder_drop_bytes_total", reason="buffer-full") >= dropped  # >= 1 byte each
        assert src.terminate() == 0
    finally:
        src.stop()


@pytest.mark.timeout(150)
async def test_sigterm_mid_stream_acks_in_flight_work_and_a_restart_loses_nothing(nats_server, tmp_path):
    topo = Topology(
        vertices=[
            {"name": "in", "source": generator(200, "100ms")},
            {"name": "cat", **UDF},
            {"name": "out", "sink": {"log": {}}},
        ],
        edges=[{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
    )
    await topo.create(nats_server.url)
    out = VertexProc(topo, "out", nats_server.url, tmp_path)
    cat = VertexProc(topo, "cat", nats_server.url, tmp_path)
    src = VertexProc(topo, "in", nats_server.url, tmp_path)
    try:
        out.start()
        udf = cat.udf("map_cat")
        cat.start()
        src.start()
        for v in (out, cat, src):
            await v.wait_ready()
        status, _ = cat.get("/sidecar-livez")
        assert status == 200
        await wait_for(lambda: len(out.log_lines()) >= 500, 60, "traffic")
        assert cat.terminate() == 0, cat.errors()
        await wait_for(lambda: cat.get("/livez")[0] == 0, 10, "metrics server gone")
        await asyncio.sleep(1.0)  # the backlog grows while the map vertex is down
        if not udf.alive():
            udf.start()
        cat.start()
        await cat.wait_ready()
        pending = f'vertex_pending_messages_raw{{partition_name="{topo.buffers("cat")[0]}"'
        await wait_for(lambda: pending in cat.get("/metrics")[1], 10, "pending gauge")
        # The histogram has series only once the restarted vertex has processed its first batch.
        histogram = "forwarder_processing_time_bucket{"
        await wait_for(lambda: histogram in cat.get("/metrics")[1], 30, "processing-time histogram")
        await wait_for(lambda: src.metric("forwarder_write_total") >= 2500, 60, "generated messages")
        assert src.terminate() == 0
        produced = await produced_ids(nats_server.url, topo.buffers("cat")[0])
        await wait_for(lambda: set(out.logged_ids()) >= produced, 60, "every id at the sink")
        logged = out.logged_ids()
        duplicates = sum(n - 1 for n in logged.values())
        report("sigterm", produced=len(produced), lost=len(produced - set(logged)), duplicates=duplicates)
        assert set(logged) == produced
        assert duplicates == 0  # a graceful stop acks everything it wrote
    finally:
        for v in (src, cat, out):
            v.stop()


@pytest.mark.timeout(90)
async def test_the_vertex_waits_unready_for_missing_buffers_naming_them_then_runs(nats_server, tmp_path):
    topo = Topology(
        vertices=[
            {"name": "in", "source": generator(10, "100ms")},
            {"name": "out", "sink": {"blackhole": {}}},
        ],
        edges=[{"from": "in", "to": "out"}],
    )
    out = VertexProc(topo, "out", nats_server.url, tmp_path)
    try:
        out.start()
        missing = topo.buffers("out")[0]
        await wait_for(lambda: missing in out.errors(), 30, "a log line naming the missing buffer")
        assert out.get("/readyz")[0] == 503
        assert out.get("/livez")[0] == 200
        await topo.create(nats_server.url)
        await out.wait_ready()
    finally:
        out.stop()

"""generator → map UDF (pynumaflow, every map mode) → log sink, each vertex a real `numaflux vertex`
process: every generated id arrives, counted exactly; SIGTERM exits 0 after acking."""

from __future__ import annotations

import pytest
from pipeline_harness import Topology, VertexProc, generator, nats_server, produced_ids, report, wait_for

__all__ = ["nats_server"]

UDF = {"udf": {"container": {"image": "map"}}}
WANT = 2000


def linear(map_vertex: dict[str, object] | None = None) -> Topology:
    return Topology(
        vertices=[
            {"name": "in", "source": generator(250, "100ms")},
            {"name": "cat", **(map_vertex or UDF)},
            {"name": "out", "sink": {"log": {}}},
        ],
        edges=[{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
    )


@pytest.mark.timeout(150)
@pytest.mark.parametrize("program", ["map_cat", "map_cat_sync", "map_cat_batch", "map_flatmap_stream"])
async def test_every_generated_id_reaches_the_log_sink_through_the_map_udf(nats_server, tmp_path, program):
    topo = linear()
    await topo.create(nats_server.url)
    out = VertexProc(topo, "out", nats_server.url, tmp_path)
    cat = VertexProc(topo, "cat", nats_server.url, tmp_path)
    src = VertexProc(topo, "in", nats_server.url, tmp_path)
    try:
        out.start()
        cat.udf(program)
        cat.start()
        src.start()
        for v in (out, cat, src):
            await v.wait_ready()
        await wait_for(lambda: src.metric("forwarder_write_total") >= WANT, 60, "generated messages")
        assert src.terminate() == 0, src.errors()
        produced = await produced_ids(nats_server.url, topo.buffers("cat")[0])
        await wait_for(lambda: set(out.logged_ids()) >= produced, 60, "every id at the sink")
        logged = out.logged_ids()
        lost = produced - set(logged)
        duplicates = sum(n - 1 for n in logged.values())
        report(program, produced=len(produced), logged=len(logged), lost=len(lost), duplicates=duplicates)
        assert len(produced) >= WANT
        assert lost == set()
        assert set(logged) == produced
        assert duplicates == 0
        # The map vertex acks its input after the downstream write is confirmed, so its ack counter may
        # trail what the sink has already logged.
        await wait_for(lambda: cat.metric("forwarder_ack_total") >= len(produced), 30, "acks")
        assert cat.terminate() == 0, cat.errors()
        assert out.terminate() == 0, out.errors()
    finally:
        for v in (src, cat, out):
            v.stop()

"""kill -9 mid-stream — of the map vertex process, then of its UDF process — and restart them as the
kubelet would: every generated id still reaches the sink; duplicates are counted and reported."""

from __future__ import annotations

import asyncio

import pytest
from pipeline_harness import Topology, VertexProc, generator, nats_server, produced_ids, report, wait_for

__all__ = ["nats_server"]

UDF = {"udf": {"container": {"image": "map"}}}
WANT = 3000


def topology() -> Topology:
    return Topology(
        vertices=[
            {"name": "in", "source": generator(200, "100ms")},
            {"name": "cat", **UDF},
            {"name": "out", "sink": {"log": {}}},
        ],
        edges=[{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
    )


async def finish(
    topo: Topology, url: str, src: VertexProc, out: VertexProc, label: str, cat: VertexProc, **extra: int
) -> None:
    await wait_for(lambda: src.metric("forwarder_write_total") >= WANT, 90, "generated messages")
    assert src.terminate() == 0, src.errors()
    produced = await produced_ids(url, topo.buffers("cat")[0])
    await wait_for(lambda: set(out.logged_ids()) >= produced, 90, "every id at the sink")
    logged = out.logged_ids()
    lost = produced - set(logged)
    duplicates = sum(n - 1 for n in logged.values())
    extra["redelivered"] = int(cat.metric("forwarder_redelivered_total"))
    extra["udf_errors"] = int(cat.metric("forwarder_udf_error_total"))
    report(label, produced=len(produced), logged=len(logged), lost=len(lost), duplicates=duplicates, **extra)
    assert lost == set()
    assert set(logged) == produced


@pytest.mark.timeout(180)
async def test_kill_9_of_the_map_vertex_mid_stream_loses_nothing(nats_server, tmp_path):
    topo = topology()
    await topo.create(nats_server.url)
    out = VertexProc(topo, "out", nats_server.url, tmp_path)
    cat = VertexProc(topo, "cat", nats_server.url, tmp_path)
    src = VertexProc(topo, "in", nats_server.url, tmp_path)
    kubelet: asyncio.Task[None] | None = None
    try:
        out.start()
        udf = cat.udf("map_cat")
        cat.start()
        src.start()
        for v in (out, cat, src):
            await v.wait_ready()
        await wait_for(lambda: len(out.log_lines()) >= 600, 60, "traffic at the sink")
        cat.kill()
        # pynumaflow's async server may exit when its client vanishes mid-stream, at once or a while
        # later; restart it whenever it is gone, as the kubelet restarts a pod's exited container.
        udf_restarted = 0

        async def restart_udf_when_gone() -> None:
            nonlocal udf_restarted
            while True:
                if not udf.alive():
                    udf.start()
                    udf_restarted += 1
                await asyncio.sleep(0.2)

        kubelet = asyncio.create_task(restart_udf_when_gone())
        cat.start()
        await cat.wait_ready()
        await wait_for(lambda: cat.metric("forwarder_ack_total") > 0, 60, "the restarted vertex at work")
        await finish(
            topo,
            nats_server.url,
            src,
            out,
            "kill-9-vertex",
            cat,
            udf_restarted=udf_restarted,
        )
    finally:
        if kubelet is not None:
            kubelet.cancel()
        for v in (src, cat, out):
            v.stop()


@pytest.mark.timeout(180)
async def test_kill_9_of_the_map_udf_mid_stream_loses_nothing(nats_server, tmp_path):
    topo = topology()
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
        await wait_for(lambda: len(out.log_lines()) >= 600, 60, "traffic at the sink")
        udf.kill()
        await wait_for(lambda: cat.get("/readyz")[0] == 503, 20, "vertex not ready without its UDF")
        await asyncio.sleep(1.0)
        udf.start()  # the container restarts
        await cat.wait_ready()
        assert cat.alive()
        await finish(
            topo,
            nats_server.url,
            src,
            out,
            "kill-9-udf",
            cat,
        )
    finally:
        for v in (src, cat, out):
            v.stop()

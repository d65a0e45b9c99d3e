"""A user-defined source (pynumaflow simple-source) with a source transformer in a real vertex process:
every counter value reaches the sink once, with the transformer's event time."""

from __future__ import annotations

import time

import pytest
from pipeline_harness import Topology, VertexProc, nats_server, report, stream_payloads, wait_for

__all__ = ["nats_server"]


@pytest.mark.timeout(120)
async def test_udsource_through_a_transformer_delivers_every_value_once(nats_server, tmp_path):
    topo = Topology(
        vertices=[
            {
                "name": "in",
                "source": {
                    "udsource": {"container": {"image": "simple-source"}},
                    "transformer": {"container": {"image": "source-transformer-now"}},
                },
            },
            {"name": "out", "sink": {"log": {}}},
        ],
        edges=[{"from": "in", "to": "out"}],
    )
    await topo.create(nats_server.url)
    started_ms = int(time.time() * 1000)
    src = VertexProc(topo, "in", nats_server.url, tmp_path)
    out = VertexProc(topo, "out", nats_server.url, tmp_path)
    try:
        src.udf("simple_source")
        src.udf("source_transformer_now")
        out.start()
        src.start()
        await src.wait_ready()
        await out.wait_ready()
        await wait_for(lambda: src.metric("forwarder_ack_total") >= 2000, 60, "source acks")
        assert src.terminate() == 0, src.errors()
        written = [p.decode() for p in await stream_payloads(nats_server.url, topo.buffers("out")[0])]
        assert sorted(map(int, written)) == list(range(len(written)))  # contiguous, each once
        await wait_for(lambda: len(out.log_lines()) >= len(written), 60, "every value at the sink")
        lines = out.log_lines()
        report("udsource", written=len(written), logged=len(lines))
        assert sorted(int(x[0]) for x in lines) == list(range(len(written)))
        assert all(x[2] >= started_ms for x in lines)  # event time set by the transformer
    finally:
        src.stop()
        out.stop()

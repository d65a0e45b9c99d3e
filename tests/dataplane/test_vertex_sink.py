"""A sink vertex with a pynumaflow udsink, retryStrategy, a fallback udsink and an onSuccess log sink:
SUCCESS is acked, FALLBACK goes to the fallback sink, ON_SUCCESS (replacement or original) to the onSuccess
sink, FAILURE is retried `steps` times and then falls back or is dropped per `onFailure`."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import pytest
from pipeline_harness import Topology, VertexProc, nats_server, report, wait_for

from numaflux.isb.server import free_port

__all__ = ["nats_server"]

PAYLOADS = {"ok": 5, "fb": 3, "ons": 2, "ons-orig": 2, "fail": 2}


@pytest.mark.timeout(150)
@pytest.mark.parametrize("on_failure", ["fallback", "drop"])
async def test_sink_statuses_reach_fallback_and_on_success_sinks_after_retries(
    nats_server, tmp_path, on_failure
):
    http_port = free_port()
    topo = Topology(
        vertices=[
            {"name": "in", "source": {"http": {"ports": {"https": free_port(), "http": http_port}}}},
            {
                "name": "out",
                "sink": {
                    "udsink": {"container": {"image": "status-sink"}},
                    "fallback": {"udsink": {"container": {"image": "fb-sink-log"}}},
                    "onSuccess": {"log": {}},
                    "retryStrategy": {
                        "backoff": {"interval": "10ms", "steps": 3, "factor": 2.0},
                        "onFailure": on_failure,
                    },
                },
            },
        ],
        edges=[{"from": "in", "to": "out"}],
    )
    await topo.create(nats_server.url)
    src = VertexProc(topo, "in", nats_server.url, tmp_path)
    out = VertexProc(topo, "out", nats_server.url, tmp_path)
    try:
        out.udf("status_sink")
        fb = out.udf("fb_sink_log", "--fallback-role")
        out.start()
        src.start()
        await out.wait_ready()
        await src.wait_ready()
        async with aiohttp.ClientSession() as s:

            async def post(msg_id: str, body: str) -> int:
                url = f"http://127.0.0.1:{http_port}/vertices/in"
                async with s.post(url, data=body.encode(), headers={"X-Numaflow-Id": msg_id}) as r:
                    return r.status

            bodies = [(f"{p}-{i}", p) for p, n in PAYLOADS.items() for i in range(n)]
            assert set(await asyncio.gather(*(post(i, b) for i, b in bodies))) == {200}
        total = sum(PAYLOADS.values())
        await wait_for(lambda: out.metric("forwarder_ack_total") >= total, 60, "every message acked")

        def fallback_lines() -> Counter[str]:
            text = fb.log.read_text(errors="replace") if fb.log.exists() else ""
            prefix = "Fallback sink received - "
            return Counter(x[len(prefix) :] for x in text.splitlines() if x.startswith(prefix))

        want_fb = {"fb": 3, "fail": 2} if on_failure == "fallback" else {"fb": 3}
        await wait_for(lambda: fallback_lines() == want_fb, 30, f"fallback sink got {want_fb}")
        on_success = Counter(line[0] for line in out.log_lines())
        report(on_failure, fallback=dict(fallback_lines()), on_success=dict(on_success))
        assert on_success == {"replaced": 2, "ons-orig": 2}
        # Counters move when the sink's response arrives, just after the sink program printed its line.
        fb_total = sum(want_fb.values())
        await wait_for(lambda: out.metric("fallback_sink_write_total") >= fb_total, 30, "fallback count")
        await wait_for(lambda: out.metric("on_success_sink_write_total") >= 4, 30, "onSuccess count")
        assert out.metric("fallback_sink_write_total") == fb_total
        assert out.metric("on_success_sink_write_total") == 4
        dropped = out.metric("forwarder_drop_total", reason="retries-exhausted")
        assert dropped == (2 if on_failure == "drop" else 0)
        assert out.terminate() == 0
    finally:
        src.stop()
        out.stop()

"""The HTTP source in a real vertex process: 401 without the bearer token, 413 above the size limit,
409 for an id already in flight, 200 only once the message is stored in the ISB (held back while the
next buffer is full), HTTPS with a self-signed certificate, and headers/keys/event time carried to the
log sink."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import pytest
from pipeline_harness import (
    Topology,
    VertexProc,
    nats_server,
    report,
    stream_count,
    stream_payloads,
    wait_for,
)

from numaflux.isb.server import free_port

__all__ = ["nats_server"]

TOKEN = "s3cret-token"


@pytest.mark.timeout(150)
async def test_http_source_status_codes_and_success_only_after_the_write(nats_server, tmp_path):
    http_port, https_port = free_port(), free_port()
    topo = Topology(
        vertices=[
            {
                "name": "in",
                "source": {
                    "http": {
                        "auth": {"token": {"name": "http-token", "key": "token"}},
                        "ports": {"https": https_port, "http": http_port},
                    }
                },
            },
            # room for 8 messages: the 9th waits (onFull retryUntilSuccess) until `out` reads
            {"name": "out", "sink": {"log": {}}, "limits": {"bufferMaxLength": 10, "bufferUsageLimit": 80}},
        ],
        edges=[{"from": "in", "to": "out"}],
    )
    await topo.create(nats_server.url)
    src = VertexProc(topo, "in", nats_server.url, tmp_path, env={"NUMAFLUX_HTTP_SOURCE_TOKEN": TOKEN})
    out = VertexProc(topo, "out", nats_server.url, tmp_path)
    buffer = topo.buffers("out")[0]
    url = f"http://127.0.0.1:{http_port}/vertices/in"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        src.start()
        await src.wait_ready()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            async with s.post(url, data=b"x") as r:
                assert r.status == 401
            async with s.post(url, data=b"x", headers={"Authorization": "Bearer wrong"}) as r:
                assert r.status == 401
            async with s.post(url, data=b"x" * (1024 * 1024 + 1), headers=auth) as r:
                assert r.status == 413
            assert await stream_count(nats_server.url, buffer) == 0

            async def post(msg_id: str, body: bytes, **headers: str) -> tuple[int, dict[str, str]]:
                async with s.post(url, data=body, headers={**auth, "X-Numaflow-Id": msg_id, **headers}) as r:
                    return r.status, await r.json()

            first = await asyncio.gather(*(post(f"m-{i}", f"v{i}".encode()) for i in range(8)))
            assert [st for st, _ in first] == [200] * 8
            assert first[0][1] == {"message": "Data received successfully", "id": "m-0"}
            assert await stream_count(nats_server.url, buffer) == 8

            held = asyncio.create_task(
                post(
                    "held",
                    b"payload",
                    **{
                        "X-Numaflow-Keys": "k1,k2",
                        "X-Numaflow-Event-Time": "1700000000123",
                        "X-Custom": "c1",
                    },
                )
            )
            await asyncio.sleep(1.5)
            assert not held.done()  # the buffer is full: no answer before the write
            assert await stream_count(nats_server.url, buffer) == 8
            status, body = await post("held", b"again")
            assert status == 409

            # while the write is held: ~900 requests fit (500 queued + 2 batches in the forwarder), the rest
            # get 429 at once
            flood = [asyncio.create_task(post(f"f-{i}", b"flood")) for i in range(1200)]
            # The rejections come back while the write is still held: wait until the answered count stops
            # moving (every request has reached the server) before taking them.
            answered, still = -1, 0
            for _ in range(300):
                now_done = sum(t.done() for t in flood)
                still = still + 1 if now_done == answered else 0
                answered = now_done
                if answered >= 200 and still >= 10:
                    break
                await asyncio.sleep(0.1)
            early = [t.result()[0] for t in flood if t.done()]
            assert early and set(early) == {429}

            out.start()  # the reader drains the buffer, the write goes through, then the answer
            st, body = await asyncio.wait_for(held, 60)
            assert (st, body["id"]) == (200, "held")
            flooded = Counter(st for st, _ in await asyncio.wait_for(asyncio.gather(*flood), 60))
            assert flooded[429] == len(early)
            assert flooded[200] + flooded[429] == 1200
            assert b"payload" in await stream_payloads(nats_server.url, buffer)

            async with s.post(
                f"https://127.0.0.1:{https_port}/vertices/in",
                data=b"tls",
                headers={**auth, "X-Numaflow-Id": "tls"},
                ssl=False,
            ) as r:
                assert r.status == 200
            async with s.get(f"http://127.0.0.1:{http_port}/health") as r:
                assert r.status == 200

        await wait_for(lambda: len(out.log_lines()) >= 10 + flooded[200], 30, "all messages at the sink")
        lines = {line[0]: line for line in out.log_lines()}
        assert Counter(line[0] for line in out.log_lines())["flood"] == flooded[200]
        _, keys, event_time, headers, _ = lines["payload"]
        report("http-source", accepted=flooded[200], too_many=flooded[429], held_headers=headers)
        assert keys == "k1,k2"
        assert event_time == 1700000000123
        assert "X-Custom: c1" in headers
        assert "Authorization" not in headers
        assert set(lines) == {f"v{i}" for i in range(8)} | {"payload", "tls", "flood"}
        assert src.terminate() == 0
    finally:
        src.stop()
        out.stop()

"""A UDF process killed mid-stream: typed error, then reconnect after restart and nothing is lost."""

from __future__ import annotations

import asyncio

import pytest

from numaflux.dataplane.udf import MapClient, SinkClient, UDFConnectionError, UDFDatum, UDFPaths

pytestmark = pytest.mark.timeout(90)


async def test_killed_map_udf_raises_then_reconnects_and_the_resent_batch_is_fully_answered(
    udf_server, udf_dir
):
    proc = udf_server("slow_cat")
    client = MapClient(UDFPaths(udf_dir), connect_timeout=30)
    await asyncio.wait_for(client.connect(), 40)
    try:
        batch = [UDFDatum(id=f"m-{i}", value=f"{i}".encode(), keys=["k"]) for i in range(3000)]
        in_flight = asyncio.create_task(client.map_batch(batch))
        await asyncio.sleep(0.5)
        assert not in_flight.done()
        proc.kill()
        with pytest.raises(UDFConnectionError):
            await asyncio.wait_for(in_flight, 30)
        with pytest.raises(UDFConnectionError):
            await client.map_batch(batch[:1])
        assert not await client.is_ready()

        # restart (the stale server-info file and socket are still there, as in an emptyDir)
        udf_server("map_cat")
        await asyncio.wait_for(client.reconnect(), 40)
        out = await client.map_batch(batch)
        assert {i: r[0].value for i, r in out.items()} == {d.id: d.value for d in batch}
    finally:
        await client.close()


async def test_killed_sink_udf_raises_then_reconnects(udf_server, udf_dir):
    proc = udf_server("sink_log")
    client = SinkClient(UDFPaths(udf_dir), connect_timeout=30)
    await asyncio.wait_for(client.connect(), 40)
    try:
        assert len(await client.sink_batch([UDFDatum(id="a", value=b"1")])) == 1
        proc.kill()
        with pytest.raises(UDFConnectionError):
            await asyncio.wait_for(client.sink_batch([UDFDatum(id="b", value=b"2")]), 30)
        udf_server("sink_log")
        await asyncio.wait_for(client.reconnect(), 40)
        out = await client.sink_batch([UDFDatum(id="b", value=b"2")])
        assert set(out) == {"b"}
    finally:
        await client.close()


async def test_connect_times_out_with_a_typed_error_when_no_udf_appears(udf_dir):
    client = MapClient(UDFPaths(udf_dir), connect_timeout=0.3, poll_interval=0.05)
    with pytest.raises(UDFConnectionError, match="mapper-server-info"):
        await client.connect()

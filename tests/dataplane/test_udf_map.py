"""Map UDF client against real pynumaflow servers in all three map modes."""

from __future__ import annotations

import asyncio
import time

import pytest

from numaflux.dataplane.udf import (
    DROP,
    MapClient,
    MapMode,
    UDFDatum,
    UDFExecutionError,
    UDFPaths,
)

pytestmark = pytest.mark.timeout(60)


def datums(n: int, prefix: str = "v") -> list[UDFDatum]:
    now = int(time.time() * 1000)
    return [
        UDFDatum(id=f"{prefix}-{i}", value=f"payload-{i}".encode(), keys=[f"k{i % 3}"], event_time_ms=now)
        for i in range(n)
    ]


async def connected(paths: UDFPaths) -> MapClient:
    client = MapClient(paths, connect_timeout=30)
    await asyncio.wait_for(client.connect(), 40)
    return client


async def test_async_cat_returns_every_id_with_its_keys_and_value(udf_server, udf_dir):
    udf_server("map_cat")
    client = await connected(UDFPaths(udf_dir))
    try:
        assert client.mode is MapMode.UNARY
        assert await client.is_ready()
        assert client.server_info is not None and client.server_info.language == "python"
        batch = datums(1000)
        out = await client.map_batch(batch)
        assert set(out) == {d.id for d in batch}
        for d in batch:
            [result] = out[d.id]
            assert (result.value, result.keys, result.tags) == (d.value, d.keys, [])
        # the same long-lived stream serves the next batches too, concurrently
        more = await asyncio.gather(*(client.map_batch(datums(200, f"b{j}")) for j in range(3)))
        assert [len(m) for m in more] == [200, 200, 200]
    finally:
        await client.close()


async def test_sync_map_server_serves_batches_on_its_single_stream(udf_server, udf_dir):
    udf_server("map_cat_sync")
    client = await connected(UDFPaths(udf_dir))
    try:
        for round_ in range(3):
            batch = datums(300, f"r{round_}")
            out = await client.map_batch(batch)
            assert {i: r[0].value for i, r in out.items()} == {d.id: d.value for d in batch}
    finally:
        await client.close()


async def test_batch_map_answers_each_id_and_closes_with_eot(udf_server, udf_dir):
    udf_server("map_cat_batch")
    client = await connected(UDFPaths(udf_dir))
    try:
        assert client.mode is MapMode.BATCH
        for round_ in range(3):
            batch = datums(250, f"r{round_}")
            out = await client.map_batch(batch)
            assert {i: (r[0].value, r[0].keys) for i, r in out.items()} == {
                d.id: (d.value, d.keys) for d in batch
            }
    finally:
        await client.close()


async def test_map_stream_collects_several_outputs_per_id_until_its_eot(udf_server, udf_dir):
    udf_server("map_flatmap_stream")
    client = await connected(UDFPaths(udf_dir))
    try:
        assert client.mode is MapMode.STREAM
        batch = [
            UDFDatum(id=f"s-{i}", value=",".join(f"{i}.{j}" for j in range(i % 4 + 1)).encode(), keys=["k"])
            for i in range(200)
        ] + [UDFDatum(id="empty", value=b"")]
        out = await client.map_batch(batch)
        for i in range(200):
            assert [r.value for r in out[f"s-{i}"]] == [f"{i}.{j}".encode() for j in range(i % 4 + 1)]
            assert all(r.keys == ["k"] for r in out[f"s-{i}"])
        assert [r.tags for r in out["empty"]] == [[DROP]]
    finally:
        await client.close()


async def test_even_odd_tags_and_drop_reach_the_caller(udf_server, udf_dir):
    udf_server("map_even_odd")
    client = await connected(UDFPaths(udf_dir))
    try:
        values = {"a": b"10", "b": b"7", "c": b"not-a-number"}
        out = await client.map_batch([UDFDatum(id=k, value=v) for k, v in values.items()])
        assert (out["a"][0].keys, out["a"][0].tags) == (["even"], ["even-tag"])
        assert (out["b"][0].keys, out["b"][0].tags) == (["odd"], ["odd-tag"])
        assert out["c"][0].is_drop and not out["a"][0].is_drop
    finally:
        await client.close()


async def test_a_raising_handler_surfaces_as_udf_execution_error(udf_server, udf_dir):
    udf_server("crash_map")
    client = await connected(UDFPaths(udf_dir))
    try:
        with pytest.raises(UDFExecutionError, match="UDF_EXECUTION_ERROR"):
            await asyncio.wait_for(client.map_batch([UDFDatum(id="x", value=b"boom")]), 30)
        assert not client.connected
        with pytest.raises(UDFExecutionError):
            await client.map_batch([UDFDatum(id="y", value=b"fine")])
    finally:
        await client.close()


async def test_an_id_already_in_flight_is_refused_before_anything_is_sent(udf_server, udf_dir):
    udf_server("slow_cat")
    client = await connected(UDFPaths(udf_dir))
    try:
        first = asyncio.create_task(client.map_batch(datums(200)))
        await asyncio.sleep(0.05)
        with pytest.raises(ValueError, match="already in flight"):
            await client.map_batch([UDFDatum(id="v-199", value=b"")])  # answered last
        with pytest.raises(ValueError, match="already in flight"):
            await client.map_batch([UDFDatum(id="same", value=b""), UDFDatum(id="same", value=b"")])
        assert len(await first) == 200
    finally:
        await client.close()


async def test_a_cancelled_caller_leaves_the_stream_and_the_udf_intact(udf_server, udf_dir):
    # A cancelled gRPC write/read would cancel the RPC, and pynumaflow's async server exits on that.
    proc = udf_server("slow_cat")
    client = await connected(UDFPaths(udf_dir))
    try:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.map_batch(datums(1000, "gone")), 0.2)
        out = await asyncio.wait_for(client.map_batch(datums(20, "next")), 30)
        assert len(out) == 20 and client.connected
        assert proc.proc is not None and proc.proc.poll() is None
    finally:
        await client.close()


@pytest.mark.parametrize("program", ["map_cat", "map_cat_batch", "map_flatmap_stream"])
async def test_close_ends_the_stream_without_stopping_an_async_udf(udf_server, udf_dir, program):
    proc = udf_server(program)
    client = await connected(UDFPaths(udf_dir))
    await client.map_batch(datums(10))
    await client.close()
    await asyncio.wait_for(client.connect(), 40)  # a second stream on the same process
    try:
        assert len(await client.map_batch(datums(10, "again"))) == 10
        assert proc.proc is not None and proc.proc.poll() is None
    finally:
        await client.close()

"""Sink UDF client: statuses, fallback and onSuccess sockets."""

from __future__ import annotations

import asyncio

import pytest

from numaflux.dataplane.udf import SinkClient, SinkRole, SinkStatus, UDFDatum, UDFPaths

pytestmark = pytest.mark.timeout(60)


async def connected(paths: UDFPaths, role: SinkRole = SinkRole.PRIMARY) -> SinkClient:
    client = SinkClient(paths, role=role, connect_timeout=30)
    await asyncio.wait_for(client.connect(), 40)
    return client


async def test_sink_reports_success_failure_fallback_and_on_success_per_id(udf_server, udf_dir):
    udf_server("status_sink")
    client = await connected(UDFPaths(udf_dir))
    try:
        payloads = {"1": b"ok", "2": b"fail", "3": b"fb", "4": b"ons", "5": b"ons-orig"}
        out = await client.sink_batch([UDFDatum(id=k, value=v, keys=["k"]) for k, v in payloads.items()])
        assert {k: r.status for k, r in out.items()} == {
            "1": SinkStatus.SUCCESS,
            "2": SinkStatus.FAILURE,
            "3": SinkStatus.FALLBACK,
            "4": SinkStatus.ON_SUCCESS,
            "5": SinkStatus.ON_SUCCESS,
        }
        assert out["2"].err_msg == "cannot write"
        assert out["4"].on_success is not None
        assert (out["4"].on_success.value, out["4"].on_success.keys) == (b"replaced", ["r"])
        assert out["5"].on_success is None
    finally:
        await client.close()


async def test_sink_log_acknowledges_batches_on_one_stream_and_logs_payloads(udf_server, udf_dir):
    proc = udf_server("sink_log")
    client = await connected(UDFPaths(udf_dir))
    try:
        for round_ in range(3):
            batch = [UDFDatum(id=f"{round_}-{i}", value=f"line-{round_}-{i}".encode()) for i in range(100)]
            out = await client.sink_batch(batch)
            assert len(out) == 100 and all(r.status is SinkStatus.SUCCESS for r in out.values())
    finally:
        await client.close()
    proc.stop()
    assert "line-2-99" in proc.output()


async def test_fb_sink_log_as_primary_sends_everything_to_fallback(udf_server, udf_dir):
    udf_server("fb_sink_log")
    client = await connected(UDFPaths(udf_dir))
    try:
        out = await client.sink_batch([UDFDatum(id=str(i), value=b"x") for i in range(10)])
        assert {r.status for r in out.values()} == {SinkStatus.FALLBACK}
    finally:
        await client.close()


async def test_fallback_sink_is_reached_over_fb_sink_sock(udf_server, udf_dir):
    udf_server("fb_sink_log", "--fallback-role")
    client = await connected(UDFPaths(udf_dir), SinkRole.FALLBACK)
    try:
        assert (udf_dir / "fb-sink.sock").exists() and not (udf_dir / "sink.sock").exists()
        out = await client.sink_batch([UDFDatum(id=str(i), value=b"x") for i in range(10)])
        assert {r.status for r in out.values()} == {SinkStatus.SUCCESS}
    finally:
        await client.close()


async def test_reconnecting_to_a_live_sink_keeps_it_serving(udf_server, udf_dir):
    proc = udf_server("sink_log")
    client = await connected(UDFPaths(udf_dir))
    try:
        assert len(await client.sink_batch([UDFDatum(id="a", value=b"1")])) == 1
        await asyncio.wait_for(client.reconnect(), 40)
        assert len(await client.sink_batch([UDFDatum(id="b", value=b"2")])) == 1
        assert proc.proc is not None and proc.proc.poll() is None
    finally:
        await client.close()

"""The daemon process against a real nats-server: buffer info equals JetStream's own consumer info."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from numaflux.api import Pipeline
from numaflux.daemon.buffers import list_pipeline_buffer_info
from numaflux.daemon.client import DaemonClient, DaemonNotFoundError, DaemonUnavailableError
from numaflux.isb import BufferReader, BufferWriter, Message, MessageID, Publisher, connect
from numaflux.isb.server import NatsServer

from .conftest import SESSION_LOOP, make_pipeline, start_daemon, stop_daemon, unique_name

pytestmark = SESSION_LOOP


def messages(n: int) -> list[Message]:
    return [Message(f"m{i}".encode(), MessageID("in", f"{i}-0", 0), 1_700_000_000_000 + i) for i in range(n)]


async def stable_consumer(js: JetStreamContext, buffer: str) -> tuple[int, int]:
    """(num_pending, num_ack_pending) once two reads 0.3 s apart agree."""
    last = None
    while True:
        info = await js.consumer_info(buffer, buffer)
        now = (info.num_pending or 0, info.num_ack_pending or 0)
        if now == last:
            return now
        last = now
        await asyncio.sleep(0.3)


@pytest.mark.timeout(90)
async def test_buffer_counts_agree_with_jetstream_and_drain_needs_every_ack(
    nats_server: NatsServer, pipeline_buffers: Pipeline, tmp_path: Path
) -> None:
    pl = pipeline_buffers
    cat_buffer, out_buffer = pl.all_buffers()
    nc = await connect(nats_server.url, name="daemon-test-io")
    js = nc.jetstream()
    daemon = await start_daemon(pl, nats_server.url, tmp_path / "daemon.log")
    publisher = Publisher(nc)
    await publisher.start()
    reader = BufferReader(
        nc, cat_buffer, vertex_name="cat", batch_size=4, read_timeout=0.3, pulls_in_flight=1
    )
    try:
        async with DaemonClient(daemon.url) as client:
            writer = BufferWriter(js, publisher, cat_buffer, max_length=100, usage_limit=0.5)
            results = await writer.write(messages(30))
            assert all(r.ok for r in results)
            await reader.start()
            batch = await asyncio.wait_for(reader.read(), 10)
            assert batch
            await reader.ack(batch[:2])  # the rest of what was delivered stays ack-pending

            pending, ack_pending = await stable_consumer(js, cat_buffer)
            assert ack_pending > 0 and pending > 0
            info = await client.get_buffer(pl.name, cat_buffer)
            assert (info.pending, info.ack_pending) == (pending, ack_pending)
            assert info.total_messages == pending + ack_pending
            assert (info.buffer_length, info.usage_limit) == (
                100,
                0.5,
            )  # cat's limits override the pipeline's
            assert info.usage == (pending + ack_pending) / 100
            assert not await client.is_drained(pl.name)

            listed = await client.list_buffers(pl.name)
            assert [i.buffer for i in listed] == [cat_buffer, out_buffer]
            assert listed[1].buffer_length == 1000 and listed[1].usage_limit == 0.9  # pipeline limits
            # the shared computation reading JetStream directly gives the same answer
            assert await list_pipeline_buffer_info(js, pl) == listed

            read = len(batch)
            await reader.ack(batch[2:])
            while read < 30:
                more = await asyncio.wait_for(reader.read(), 10)
                await reader.ack(more)
                read += len(more)
            assert await stable_consumer(js, cat_buffer) == (0, 0)
            assert await client.is_drained(pl.name)

            status = None
            for _ in range(50):
                status = await client.get_status(pl.name)
                if status.code != "D4":
                    break
                await asyncio.sleep(0.1)
            assert status is not None
            assert (status.status, status.code) == ("healthy", "D1")
            assert status.message == "Pipeline data flow is healthy"
        assert stop_daemon(daemon) == 0  # SIGTERM is a clean shutdown
    finally:
        await reader.close()
        await publisher.close()
        await nc.close()
        stop_daemon(daemon)


@pytest.mark.timeout(60)
async def test_unknown_buffer_vertex_and_pipeline_are_404_naming_them(
    nats_server: NatsServer, pipeline_buffers: Pipeline, tmp_path: Path
) -> None:
    pl = pipeline_buffers
    daemon = await start_daemon(pl, nats_server.url, tmp_path / "daemon.log")
    try:
        async with DaemonClient(daemon.url) as client:
            with pytest.raises(DaemonNotFoundError, match="buffer 'ns-nope-0' not found") as err:
                await client.get_buffer(pl.name, "ns-nope-0")
            assert err.value.status == 404
            with pytest.raises(DaemonNotFoundError, match="pipeline 'other' not found"):
                await client.list_buffers("other")
            with pytest.raises(DaemonNotFoundError, match="vertex 'ghost' not found"):
                await client.get_vertex_metrics(pl.name, "ghost")
            # metrics of a known vertex before any scrape: every window is "not available"
            metrics = await client.get_vertex_metrics(pl.name, "cat")
            assert [m.partition for m in metrics] == [pl.all_buffers()[0]]
            assert metrics[0].processing_rates == dict.fromkeys(("default", "1m", "5m", "15m"))
    finally:
        stop_daemon(daemon)


@pytest.mark.timeout(120)
async def test_isb_down_is_503_naming_the_cause_and_the_daemon_recovers(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "store")
    server.start()
    pl = make_pipeline(unique_name())
    daemon = None
    try:
        nc = await connect(server.url, name="daemon-test-admin")
        from numaflux.isb import create_buffers

        await create_buffers(nc.jetstream(), pl.all_buffers())
        await nc.close()
        daemon = await start_daemon(pl, server.url, tmp_path / "daemon.log")
        async with DaemonClient(daemon.url) as client:
            assert len(await client.list_buffers(pl.name)) == 2
            server.stop()
            with pytest.raises(DaemonUnavailableError, match=f"ISB service at {server.url}") as err:
                await client.list_buffers(pl.name)
            assert err.value.status == 503

            async def unknown_status() -> str:
                for _ in range(1000):
                    s = await client.get_status(pl.name)
                    if s.code == "D4":
                        break
                    await asyncio.sleep(0.1)
                return s.status

            assert await asyncio.wait_for(unknown_status(), 15) == "unknown"

            server.start()

            async def recovered() -> int:
                while True:
                    try:
                        return len(await client.list_buffers(pl.name))
                    except DaemonUnavailableError:
                        await asyncio.sleep(0.2)

            assert await asyncio.wait_for(recovered(), 30) == 2
            assert await client.is_drained(pl.name)
    finally:
        if daemon is not None:
            stop_daemon(daemon)
        server.stop()


@pytest.mark.timeout(60)
async def test_daemon_serves_probes_and_starts_while_the_isb_is_unreachable(tmp_path: Path) -> None:
    from numaflux.isb.server import free_port

    pl = make_pipeline(unique_name())
    dead_url = f"nats://127.0.0.1:{free_port()}"
    daemon = await start_daemon(pl, dead_url, tmp_path / "daemon.log")  # waits for /livez 204
    try:
        async with DaemonClient(daemon.url) as client:
            with pytest.raises(DaemonUnavailableError, match="unreachable"):
                await client.get_buffer(pl.name, pl.all_buffers()[0])
            assert (await client.get_status(pl.name)).code == "D4"
    finally:
        stop_daemon(daemon)

"""Multi-partition edges, and durability across a nats-server restart with live writer and reader."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from numaflux.isb import (
    EdgeWriter,
    Publisher,
    WriteStatus,
    choose_partition,
    connect,
    create_buffers,
    get_buffer_info,
)
from numaflux.isb.server import NatsServer

from .conftest import SESSION_LOOP, MakeBuffers
from .helpers import make_messages, read_n, reader_for, writer_for

pytestmark = [SESSION_LOOP, pytest.mark.timeout(90)]


async def test_unkeyed_writes_spread_over_partitions_by_id(
    nc: NATS, js: JetStreamContext, make_buffers: MakeBuffers
) -> None:
    bufs = await make_buffers(3)
    pub = Publisher(nc)
    await pub.start()
    edge = EdgeWriter([await writer_for(js, pub, b, partition=i) for i, b in enumerate(bufs)])
    sent = make_messages(600)
    results = await edge.write(sent)
    await pub.close()
    assert all(r.status is WriteStatus.OK for r in results)
    assert [r.partition for r in results] == [choose_partition(m, 3) for m in sent]
    for i, buf in enumerate(bufs):
        stored = (await js.stream_info(buf)).state.messages
        assert stored == sum(1 for r in results if r.partition == i)
        assert stored > 100


async def test_keyed_writes_keep_each_key_in_one_partition_and_in_order(
    nc: NATS, js: JetStreamContext, make_buffers: MakeBuffers
) -> None:
    bufs = await make_buffers(3)
    pub = Publisher(nc)
    await pub.start()
    edge = EdgeWriter([await writer_for(js, pub, b, partition=i) for i, b in enumerate(bufs)], keyed=True)
    sent = []
    for i in range(400):
        sent += make_messages(1, start=i, keys=(f"key{i % 8}",))
    for i in range(0, 400, 100):
        await edge.write(sent[i : i + 100])
    await pub.close()
    seen: dict[str, list[int]] = defaultdict(list)
    where: dict[str, set[int]] = defaultdict(set)
    for p, buf in enumerate(bufs):
        reader = await reader_for(nc, buf, partition=p)
        for m in await read_n(reader, (await js.stream_info(buf)).state.messages):
            (key,) = m.message.keys
            seen[key].append(int(m.message.id.offset.split("-")[0]))
            where[key].add(p)
        await reader.close()
    assert sum(len(v) for v in seen.values()) == 400
    assert all(len(parts) == 1 for parts in where.values())
    assert len(set().union(*where.values())) > 1
    assert all(order == sorted(order) for order in seen.values())


@pytest.mark.timeout(120)
async def test_messages_survive_a_server_restart_and_clients_reconnect(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "store")
    server.start()
    nc: NATS | None = None
    try:
        nc = await connect(server.url)
        js = nc.jetstream()
        await create_buffers(js, ["ns-pl-v-0"])
        pub = Publisher(nc, ack_timeout=2.0)
        await pub.start()
        writer = await writer_for(js, pub, "ns-pl-v-0")
        first = make_messages(1000)
        assert {r.status for r in await writer.write(first)} == {WriteStatus.OK}
        reader = await reader_for(nc, "ns-pl-v-0", batch_size=100)
        early = await read_n(reader, 300)

        server.restart()
        second = make_messages(1000, start=1000)
        results = await asyncio.wait_for(writer.write_until_stored(second), 60)
        assert all(r.ok for r in results)
        expected = {m.id for m in first + second}
        ids = {m.message.id for m in early}
        while ids != expected:  # redeliveries may repeat a message; wait until every id arrived
            batch = await asyncio.wait_for(reader.read(), 10)
            ids |= {m.message.id for m in batch}
            await reader.ack(batch)
        await reader.close()
        await pub.close()

        assert ids == expected
        info = await get_buffer_info(js, "ns-pl-v-0")
        assert (info.pending, info.ack_pending) == (0, 0)
        assert (await js.stream_info("ns-pl-v-0")).state.messages == 2000
    finally:
        if nc is not None:
            await nc.close()
        server.stop()

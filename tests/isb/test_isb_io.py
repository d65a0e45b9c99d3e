"""Writer and reader against a real JetStream: exact counts, dedup, nak, redelivery, in-progress, info."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from numaflux.isb import BufferConfig, MessageID, Publisher, ReadMessage, WriteStatus, get_buffer_info

from .conftest import SESSION_LOOP, MakeBuffers
from .helpers import make_messages, read_n, reader_for, writer_for

pytestmark = [SESSION_LOOP, pytest.mark.timeout(90)]


@pytest.fixture(params=[True, False], ids=["frames", "nats-py-publish"])
async def publisher(nc: NATS, request: pytest.FixtureRequest) -> AsyncIterator[Publisher]:
    """Both write paths: pre-built frames, and nats-py's public publish() (the fallback)."""
    pub = Publisher(nc, window=512, use_frames=request.param)
    await pub.start()
    yield pub
    await pub.close()


async def test_ten_thousand_written_are_read_once_and_fully_acked(
    nc: NATS, js: JetStreamContext, publisher: Publisher, make_buffers: MakeBuffers
) -> None:
    (buf,) = await make_buffers()
    writer = await writer_for(js, publisher, buf)
    sent = make_messages(10_000)
    results = []
    for i in range(0, len(sent), 1000):
        results += await writer.write(sent[i : i + 1000])
    assert [r.status for r in results] == [WriteStatus.OK] * 10_000
    assert [r.sequence for r in results] == list(range(1, 10_001))

    reader = await reader_for(nc, buf)
    got: list[ReadMessage] = []
    while len(got) < 10_000:
        batch = await asyncio.wait_for(reader.read(), 10)
        got += batch
        await reader.ack(batch, wait=False)
    await reader.wait_for_acks()
    await reader.close()
    assert [m.message for m in got] == sent
    assert [m.sequence for m in got] == list(range(1, 10_001))
    assert got[41].id == MessageID("reader", "42-0", 0)
    assert {m.num_delivered for m in got} == {1}

    info = await get_buffer_info(js, buf)
    assert (info.pending, info.ack_pending, info.total_messages) == (0, 0, 0)
    assert info.is_drained


async def test_writing_the_same_ids_twice_stores_them_once(
    js: JetStreamContext, publisher: Publisher, make_buffers: MakeBuffers
) -> None:
    (buf,) = await make_buffers()
    writer = await writer_for(js, publisher, buf)
    batch = make_messages(300)
    first = await writer.write(batch)
    again = await writer.write(batch)
    assert {r.status for r in first} == {WriteStatus.OK}
    assert {r.status for r in again} == {WriteStatus.DUPLICATE}
    assert all(r.ok for r in again)
    assert [r.sequence for r in again] == [r.sequence for r in first]
    assert (await js.stream_info(buf)).state.messages == 300


@pytest.mark.parametrize("delay", [None, 0.5])
async def test_nak_makes_jetstream_deliver_the_message_again(
    nc: NATS, js: JetStreamContext, publisher: Publisher, make_buffers: MakeBuffers, delay: float | None
) -> None:
    (buf,) = await make_buffers()
    await (await writer_for(js, publisher, buf)).write(make_messages(10))
    reader = await reader_for(nc, buf)
    first = await read_n(reader, 10, ack=False)
    await reader.ack(first[1:])
    await reader.nak(first[:1], delay=delay)
    again = await read_n(reader, 1)
    await reader.close()
    assert [m.sequence for m in again] == [first[0].sequence]
    assert again[0].num_delivered == 2
    assert (await get_buffer_info(js, buf)).is_drained


async def test_messages_of_a_dead_reader_come_back_after_ack_wait(
    nc: NATS, js: JetStreamContext, publisher: Publisher, make_buffers: MakeBuffers, nats_server: object
) -> None:
    (buf,) = await make_buffers(config=BufferConfig(ack_wait=1.0))
    await (await writer_for(js, publisher, buf)).write(make_messages(200))
    reader = await reader_for(nc, buf, batch_size=50)
    taken = await read_n(reader, 200, ack=False)
    await reader.ack(taken[:120])
    # the reader "dies": its connection goes away without acking the remaining 80
    await reader.close()
    second = await reader_for(nc, buf, batch_size=50)
    back = await asyncio.wait_for(read_n(second, 80), 20)
    await second.close()
    assert sorted(m.sequence for m in back) == [m.sequence for m in taken[120:]]
    assert {m.num_delivered for m in back} == {2}
    assert (await get_buffer_info(js, buf)).is_drained


async def test_in_progress_extension_keeps_a_slow_message_from_redelivery(
    nc: NATS, js: JetStreamContext, publisher: Publisher, make_buffers: MakeBuffers
) -> None:
    (buf,) = await make_buffers(config=BufferConfig(ack_wait=2.0))
    await (await writer_for(js, publisher, buf)).write(make_messages(1))
    reader = await reader_for(nc, buf)
    other = await reader_for(nc, buf)
    (slow,) = await read_n(reader, 1, ack=False)
    assert reader.ack_wait == 2.0
    async with reader.keep_in_progress([slow]):
        stolen = await read_n(other, 1, max_empty=14)  # 14 x 0.3 s > 2 x AckWait
    await reader.ack([slow])
    await reader.close()
    await other.close()
    assert stolen == []
    consumer = await js.consumer_info(buf, buf)
    assert consumer.num_redelivered == 0
    assert (consumer.num_pending, consumer.num_ack_pending) == (0, 0)


async def test_buffer_info_agrees_with_jetstreams_consumer_info(
    nc: NATS, js: JetStreamContext, publisher: Publisher, make_buffers: MakeBuffers
) -> None:
    (buf,) = await make_buffers()
    await (await writer_for(js, publisher, buf)).write(make_messages(100))
    reader = await reader_for(nc, buf, batch_size=30)
    held = await reader.read()
    assert len(held) == 30
    await asyncio.sleep(0.1)
    # the reader may hold further prefetched (delivered, unacked) messages: JetStream counts them too
    info = await get_buffer_info(js, buf, max_length=200, usage_limit=0.5)
    consumer = await js.consumer_info(buf, buf)
    assert info.pending == consumer.num_pending
    assert info.ack_pending == consumer.num_ack_pending
    assert info.pending + info.ack_pending == 100
    assert info.ack_pending >= 30
    assert info.total_messages == 100
    assert info.usage == 0.5
    assert info.is_full
    await reader.ack(held)
    await reader.close()
    after = await get_buffer_info(js, buf, max_length=200, usage_limit=0.5)
    assert (after.pending + after.ack_pending, after.total_messages) == (70, 70)
    assert not after.is_full


async def test_reader_stop_drains_what_was_pulled_then_ends(
    nc: NATS, js: JetStreamContext, publisher: Publisher, make_buffers: MakeBuffers
) -> None:
    (buf,) = await make_buffers()
    await (await writer_for(js, publisher, buf)).write(make_messages(50))
    reader = await reader_for(nc, buf, batch_size=20)
    first = await reader.read()
    reader.stop()
    rest = []
    async for batch in reader.batches():
        rest += batch
    assert reader.exhausted
    await reader.ack(first + rest)
    await reader.close()
    assert len(first) + len(rest) <= 50
    consumer = await js.consumer_info(buf, buf)
    assert consumer.num_ack_pending == 0
    assert consumer.num_pending == 50 - len(first) - len(rest)


async def test_a_message_id_with_control_characters_fails_with_its_reason(
    js: JetStreamContext, publisher: Publisher, make_buffers: MakeBuffers
) -> None:
    (buf,) = await make_buffers()
    good, bad = make_messages(2)
    bad.id = MessageID("src", "1-0\r\nPUB x 1", 0)
    results = await (await writer_for(js, publisher, buf)).write([good, bad])
    assert results[0].status is WriteStatus.OK
    if publisher.uses_frames:
        assert results[1].status is WriteStatus.ERROR
        assert "control characters" in (results[1].error or "")
        assert (await js.stream_info(buf)).state.messages == 1
    else:  # nats-py's publish() replaces the newlines in header values
        assert results[1].status is WriteStatus.OK

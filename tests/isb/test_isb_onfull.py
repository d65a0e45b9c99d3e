"""Buffer-full behaviour: discardLatest drops and counts; retryUntilSuccess waits for a reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from numaflux.isb import Kind, Message, MessageID, OnFull, Publisher, WriteStatus, get_buffer_info

from .conftest import SESSION_LOOP, MakeBuffers
from .helpers import make_messages, read_n, reader_for, writer_for

pytestmark = [SESSION_LOOP, pytest.mark.timeout(60)]


@pytest.fixture
async def publisher(nc: NATS) -> AsyncIterator[Publisher]:
    pub = Publisher(nc)
    await pub.start()
    yield pub
    await pub.close()


async def test_discard_latest_writes_what_fits_and_drops_the_rest(
    js: JetStreamContext, publisher: Publisher, make_buffers: MakeBuffers
) -> None:
    (buf,) = await make_buffers()
    writer = await writer_for(
        js, publisher, buf, max_length=10, usage_limit=0.8, on_full=OnFull.DISCARD_LATEST
    )
    results = await writer.write(make_messages(20))
    assert [r.status for r in results] == [WriteStatus.OK] * 8 + [WriteStatus.DROPPED_FULL] * 12
    assert str(WriteStatus.DROPPED_FULL.value) == "dropped: buffer-full"
    more = await writer.write(make_messages(5, start=20))
    assert {r.status for r in more} == {WriteStatus.DROPPED_FULL}
    assert writer.dropped == 17
    assert (await js.stream_info(buf)).state.messages == 8
    assert (await get_buffer_info(js, buf, max_length=10, usage_limit=0.8)).is_full


async def test_watermark_control_messages_bypass_the_full_check(
    js: JetStreamContext, publisher: Publisher, make_buffers: MakeBuffers
) -> None:
    (buf,) = await make_buffers()
    writer = await writer_for(
        js, publisher, buf, max_length=2, usage_limit=0.5, on_full=OnFull.DISCARD_LATEST
    )
    await writer.write(make_messages(1))
    control = Message(b"", MessageID("", "", 0), 0, kind=Kind.WMB)
    (result,) = await writer.write([control])
    assert result.status is WriteStatus.OK
    assert (await js.stream_info(buf)).state.messages == 2


async def test_retry_until_success_blocks_until_a_reader_drains_the_backlog(
    nc: NATS, js: JetStreamContext, publisher: Publisher, make_buffers: MakeBuffers
) -> None:
    (buf,) = await make_buffers()
    writer = await writer_for(js, publisher, buf, max_length=10, usage_limit=0.5)
    sent = make_messages(40)
    write = asyncio.create_task(writer.write(sent))
    await asyncio.sleep(1.0)
    assert not write.done()
    assert (await js.stream_info(buf)).state.messages == 5

    reader = await reader_for(nc, buf, batch_size=5)
    got = await read_n(reader, 40)
    results = await asyncio.wait_for(write, 20)
    await reader.close()
    assert [r.status for r in results] == [WriteStatus.OK] * 40
    assert [m.message for m in got] == sent
    assert (await get_buffer_info(js, buf)).is_drained


async def test_a_blocked_writer_can_be_cancelled(
    js: JetStreamContext, publisher: Publisher, make_buffers: MakeBuffers
) -> None:
    (buf,) = await make_buffers()
    writer = await writer_for(js, publisher, buf, max_length=4, usage_limit=0.5)
    write = asyncio.create_task(writer.write(make_messages(10)))
    await asyncio.sleep(0.5)
    write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await write
    assert publisher.in_flight == 0
    assert (await js.stream_info(buf)).state.messages == 2

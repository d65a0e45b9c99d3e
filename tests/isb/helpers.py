"""Small builders shared by the ISB I/O tests."""

from __future__ import annotations

import time

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from numaflux.isb import BufferReader, BufferWriter, Message, MessageID, OnFull, Publisher, ReadMessage


def make_messages(
    n: int, *, vertex: str = "src", start: int = 0, keys: tuple[str, ...] = ()
) -> list[Message]:
    now = time.time_ns()
    return [
        Message(f"payload-{i}".encode(), MessageID(vertex, f"{i}-0", 0), now + i, keys, {"h": str(i)})
        for i in range(start, start + n)
    ]


async def writer_for(
    js: JetStreamContext,
    publisher: Publisher,
    buffer: str,
    *,
    max_length: int = 30_000,
    usage_limit: float = 0.8,
    on_full: OnFull = OnFull.RETRY_UNTIL_SUCCESS,
    partition: int = 0,
) -> BufferWriter:
    return BufferWriter(
        js,
        publisher,
        buffer,
        partition=partition,
        max_length=max_length,
        usage_limit=usage_limit,
        on_full=on_full,
        refresh_interval=0.2,
        full_retry_interval=0.05,
    )


async def reader_for(nc: NATS, buffer: str, *, batch_size: int = 500, partition: int = 0) -> BufferReader:
    reader = BufferReader(
        nc, buffer, vertex_name="reader", partition=partition, batch_size=batch_size, read_timeout=0.3
    )
    await reader.start()
    return reader


async def read_n(reader: BufferReader, n: int, *, ack: bool = True, max_empty: int = 20) -> list[ReadMessage]:
    """Read until `n` messages arrived (acking each batch if `ack`), or `max_empty` empty reads in a row."""
    got: list[ReadMessage] = []
    empty = 0
    while len(got) < n and empty < max_empty:
        batch = await reader.read()
        empty = 0 if batch else empty + 1
        got.extend(batch)
        if ack and batch:
            await reader.ack(batch)
    return got

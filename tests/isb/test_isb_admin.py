"""Buffers and buckets are created with NumaFlow's settings, idempotently, and validated."""

from __future__ import annotations

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType

from numaflux.isb import (
    BufferConfig,
    create_buckets,
    create_buffers,
    create_side_inputs_store,
    delete_buckets,
    delete_buffers,
    delete_side_inputs_store,
    missing,
    validate,
)
from numaflux.isb.admin import Action, ISBNotReadyError
from numaflux.isb.config import Retention, buffer_name, ot_bucket_name, side_inputs_bucket_name

from .conftest import SESSION_LOOP, unique

pytestmark = SESSION_LOOP


async def test_buffers_are_created_once_and_reported_as_existing_the_second_time(
    js: JetStreamContext,
) -> None:
    name = unique("ns-pl-v")
    try:
        first = await create_buffers(js, [name])
        second = await create_buffers(js, [name])
        assert first == [Action("stream", name, "created"), Action("consumer", name, "created")]
        assert second == [Action("stream", name, "exists"), Action("consumer", name, "exists")]
    finally:
        await delete_buffers(js, [name])


async def test_stream_and_consumer_carry_numaflows_settings(js: JetStreamContext) -> None:
    name = unique("ns-pl-v")
    try:
        await create_buffers(js, [name])
        stream = (await js.stream_info(name)).config
        assert stream.subjects == [name]
        assert stream.retention == RetentionPolicy.LIMITS
        assert stream.discard == DiscardPolicy.OLD
        assert stream.max_msgs == 100_000
        assert stream.max_age == 72 * 3600
        assert stream.max_bytes == -1
        assert stream.storage == StorageType.FILE
        assert stream.num_replicas == 1
        assert stream.duplicate_window == 60
        consumer = (await js.consumer_info(name, name)).config
        assert consumer.durable_name == name
        assert consumer.deliver_policy == DeliverPolicy.ALL
        assert consumer.ack_policy == AckPolicy.EXPLICIT
        assert consumer.ack_wait == 60
        assert consumer.max_ack_pending == 25_000
        assert consumer.filter_subject == name
    finally:
        await delete_buffers(js, [name])


async def test_non_limits_retention_discards_new_messages(js: JetStreamContext) -> None:
    name = unique("wq")
    try:
        await create_buffers(js, [name], BufferConfig(retention=Retention.WORK_QUEUE, ack_wait=5))
        stream = (await js.stream_info(name)).config
        assert stream.retention == RetentionPolicy.WORK_QUEUE
        assert stream.discard == DiscardPolicy.NEW
        assert (await js.consumer_info(name, name)).config.ack_wait == 5
    finally:
        await delete_buffers(js, [name])


async def test_deleting_twice_reports_deleted_then_absent(js: JetStreamContext) -> None:
    name = unique("del")
    await create_buffers(js, [name])
    assert await delete_buffers(js, [name]) == [Action("stream", name, "deleted")]
    assert await delete_buffers(js, [name]) == [Action("stream", name, "absent")]


async def test_ot_buckets_are_created_idempotently_with_history_1_and_ttl_3h(js: JetStreamContext) -> None:
    bucket = unique("ns-pl-a-b")
    kv = ot_bucket_name(bucket)
    try:
        assert await create_buckets(js, [bucket]) == [Action("kv", kv, "created")]
        assert await create_buckets(js, [bucket]) == [Action("kv", kv, "exists")]
        status = await (await js.key_value(kv)).status()
        assert status.history == 1
        assert status.ttl == 3 * 3600
    finally:
        assert await delete_buckets(js, [bucket]) == [Action("kv", kv, "deleted")]
    assert await delete_buckets(js, [bucket]) == [Action("kv", kv, "absent")]


async def test_side_inputs_store_keeps_values_for_30_days(js: JetStreamContext) -> None:
    store = side_inputs_bucket_name(unique("ns"), "pl")
    try:
        assert await create_side_inputs_store(js, store) == [Action("kv", store, "created")]
        status = await (await js.key_value(store)).status()
        assert status.ttl == 30 * 24 * 3600
    finally:
        await delete_side_inputs_store(js, store)


async def test_validation_names_exactly_what_is_missing(js: JetStreamContext) -> None:
    ns = unique("ns")
    buffers = [buffer_name(ns, "pl", "v", i) for i in range(2)]
    bucket = f"{ns}-pl-in-v"
    store = side_inputs_bucket_name(ns, "pl")
    try:
        assert await missing(js, buffers=buffers, buckets=[bucket], side_inputs_store=store) == [
            f"stream {buffers[0]}",
            f"stream {buffers[1]}",
            f"kv {bucket}_OT",
            f"kv {store}",
        ]
        await create_buffers(js, buffers[:1])
        await create_buckets(js, [bucket])
        await create_side_inputs_store(js, store)
        assert await missing(js, buffers=buffers, buckets=[bucket], side_inputs_store=store) == [
            f"stream {buffers[1]}"
        ]
        with pytest.raises(ISBNotReadyError, match=f"stream {buffers[1]}"):
            await validate(js, buffers=buffers, buckets=[bucket])
        await validate(js, buffers=buffers[:1], buckets=[bucket], side_inputs_store=store)
    finally:
        await delete_buffers(js, buffers)
        await delete_buckets(js, [bucket])
        await delete_side_inputs_store(js, store)

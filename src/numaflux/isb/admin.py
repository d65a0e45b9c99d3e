"""Idempotent creation, deletion and validation of buffers (stream + durable consumer) and KV buckets.

What NumaFlow's `isbsvc-create` / `isbsvc-delete` / `isbsvc-validate` jobs do, against one JetStream.
Every call is safe to repeat and reports, per object, what it did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Literal

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from numaflux.concurrency import all_settled
from numaflux.isb.config import (
    OT_BUCKET,
    SIDE_INPUTS_BUCKET,
    BucketConfig,
    BufferConfig,
    Retention,
    ot_bucket_name,
)

Kind = Literal["stream", "consumer", "kv"]
Outcome = Literal["created", "exists", "deleted", "absent"]

_RETENTION = {
    Retention.LIMITS: RetentionPolicy.LIMITS,
    Retention.INTEREST: RetentionPolicy.INTEREST,
    Retention.WORK_QUEUE: RetentionPolicy.WORK_QUEUE,
}


@dataclass(frozen=True, slots=True)
class Action:
    """One object touched by an admin call and what happened to it."""

    kind: Kind
    name: str
    outcome: Outcome

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.outcome}"


def stream_config(buffer: str, config: BufferConfig) -> StreamConfig:
    """The stream for `buffer`: its only subject is the buffer name."""
    return StreamConfig(
        name=buffer,
        subjects=[buffer],
        retention=_RETENTION[config.retention],
        max_msgs=config.max_msgs,
        max_age=config.max_age,
        max_bytes=config.max_bytes,
        storage=StorageType.FILE if config.file_storage else StorageType.MEMORY,
        num_replicas=config.replicas,
        duplicate_window=config.duplicates,
        discard=DiscardPolicy.NEW if config.discard_new else DiscardPolicy.OLD,
    )


def consumer_config(buffer: str, config: BufferConfig) -> ConsumerConfig:
    """The durable pull consumer for `buffer`, named like it."""
    return ConsumerConfig(
        durable_name=buffer,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=config.ack_wait,
        max_ack_pending=config.max_ack_pending,
        filter_subject=buffer,
    )


def kv_config(bucket: str, config: BucketConfig) -> KeyValueConfig:
    """A KV bucket named `bucket` (the caller adds `_OT` / `_SIDE_INPUTS`)."""
    return KeyValueConfig(
        bucket=bucket,
        history=config.history,
        ttl=config.ttl,
        max_value_size=config.max_value_size,
        max_bytes=config.max_bytes,
        storage=StorageType.FILE if config.file_storage else StorageType.MEMORY,
        replicas=config.replicas,
    )


async def _stream_exists(js: JetStreamContext, name: str) -> bool:
    try:
        await js.stream_info(name)
    except NotFoundError:
        return False
    return True


async def _consumer_exists(js: JetStreamContext, stream: str, consumer: str) -> bool:
    try:
        await js.consumer_info(stream, consumer)
    except NotFoundError:
        return False
    return True


def _kv_stream(bucket: str) -> str:
    return f"KV_{bucket}"


async def _create_buffer(js: JetStreamContext, buffer: str, cfg: BufferConfig) -> list[Action]:
    # both looked up at once (a missing stream has no consumer either), then created stream first
    stream, consumer = await all_settled([_stream_exists(js, buffer), _consumer_exists(js, buffer, buffer)])
    if stream:
        actions = [Action("stream", buffer, "exists")]
    else:
        await js.add_stream(stream_config(buffer, cfg))
        actions = [Action("stream", buffer, "created")]
    if consumer:
        actions.append(Action("consumer", buffer, "exists"))
    else:
        await js.add_consumer(buffer, consumer_config(buffer, cfg))
        actions.append(Action("consumer", buffer, "created"))
    return actions


async def _each(calls: Iterable[Awaitable[list[Action]]]) -> list[Action]:
    """Independent objects at once (one round trip of waiting instead of one per object), actions in
    call order."""
    return [action for actions in await all_settled(calls) for action in actions]


async def create_buffers(
    js: JetStreamContext, buffers: Iterable[str], config: BufferConfig | None = None
) -> list[Action]:
    """Create each buffer's stream and durable consumer unless they exist (the buffers concurrently)."""
    cfg = config or BufferConfig()
    return await _each(_create_buffer(js, buffer, cfg) for buffer in buffers)


async def delete_buffers(js: JetStreamContext, buffers: Iterable[str]) -> list[Action]:
    """Delete each buffer's stream (its consumer goes with it)."""
    actions: list[Action] = []
    for buffer in buffers:
        try:
            await js.delete_stream(buffer)
        except NotFoundError:
            actions.append(Action("stream", buffer, "absent"))
        else:
            actions.append(Action("stream", buffer, "deleted"))
    return actions


async def _create_kv(js: JetStreamContext, name: str, config: BucketConfig) -> list[Action]:
    if await _stream_exists(js, _kv_stream(name)):
        return [Action("kv", name, "exists")]
    await js.create_key_value(kv_config(name, config))
    return [Action("kv", name, "created")]


async def _create_kvs(js: JetStreamContext, names: Iterable[str], config: BucketConfig) -> list[Action]:
    return await _each(_create_kv(js, name, config) for name in names)


async def _delete_kvs(js: JetStreamContext, names: Iterable[str]) -> list[Action]:
    actions: list[Action] = []
    for name in names:
        try:
            await js.delete_stream(_kv_stream(name))
        except NotFoundError:
            actions.append(Action("kv", name, "absent"))
        else:
            actions.append(Action("kv", name, "deleted"))
    return actions


async def create_buckets(
    js: JetStreamContext, buckets: Iterable[str], config: BucketConfig = OT_BUCKET
) -> list[Action]:
    """Create the watermark KV `{bucket}_OT` for each bucket (since v1.8 there is no processor bucket)."""
    return await _create_kvs(js, (ot_bucket_name(b) for b in buckets), config)


async def delete_buckets(js: JetStreamContext, buckets: Iterable[str]) -> list[Action]:
    """Delete each bucket's `{bucket}_OT` KV."""
    return await _delete_kvs(js, (ot_bucket_name(b) for b in buckets))


async def create_side_inputs_store(
    js: JetStreamContext, store: str, config: BucketConfig = SIDE_INPUTS_BUCKET
) -> list[Action]:
    """Create the side-input KV (its full name, e.g. `side_inputs_bucket_name(ns, pipeline)`)."""
    return await _create_kvs(js, [store], config)


async def delete_side_inputs_store(js: JetStreamContext, store: str) -> list[Action]:
    """Delete the side-input KV."""
    return await _delete_kvs(js, [store])


async def missing(
    js: JetStreamContext,
    *,
    buffers: Iterable[str] = (),
    buckets: Iterable[str] = (),
    side_inputs_store: str | None = None,
) -> list[str]:
    """Names of the objects a vertex needs that do not exist (empty = valid); for a pod's init step."""
    absent: list[str] = []
    for buffer in buffers:
        if not await _stream_exists(js, buffer):
            absent.append(f"stream {buffer}")
        elif not await _consumer_exists(js, buffer, buffer):
            absent.append(f"consumer {buffer}")
    for bucket in buckets:
        name = ot_bucket_name(bucket)
        if not await _stream_exists(js, _kv_stream(name)):
            absent.append(f"kv {name}")
    if side_inputs_store is not None and not await _stream_exists(js, _kv_stream(side_inputs_store)):
        absent.append(f"kv {side_inputs_store}")
    return absent


class ISBNotReadyError(RuntimeError):
    """Some buffers or buckets a vertex needs do not exist."""


async def validate(
    js: JetStreamContext,
    *,
    buffers: Iterable[str] = (),
    buckets: Iterable[str] = (),
    side_inputs_store: str | None = None,
) -> None:
    """Raise ISBNotReadyError naming every missing object; return quietly when all exist."""
    absent = await missing(js, buffers=buffers, buckets=buckets, side_inputs_store=side_inputs_store)
    if absent:
        raise ISBNotReadyError("ISB not ready, missing: " + ", ".join(absent))

"""The Pipeline controller's I/O against the ISB service: buffers, buckets and buffer info over NATS.

One nats connection per ISB URL, kept across reconciles (an ISB pod replaced locally gets a new URL;
connections to URLs no pipeline uses any more are closed by ``forget_except``). Buffer and bucket
settings come from the ISB service's published ``status.config.jetstream.streamConfig`` (the defaults
merged with its ``spec.jetstream.bufferConfig``), as NumaFlow's isbsvc-create job reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterable
from typing import Any

import yaml
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from numaflux.api import InterStepBufferService, Pipeline
from numaflux.api.duration import parse_duration_seconds
from numaflux.concurrency import all_settled
from numaflux.controller.pipeline.build import IsbPlan
from numaflux.controller.pipeline.ensured import EnsureMemo, EnsureTarget
from numaflux.isb import admin
from numaflux.isb.config import BucketConfig, BufferConfig, Retention
from numaflux.isb.connection import connect
from numaflux.isb.info import BufferInfo, get_buffer_info

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
REQUEST_TIMEOUT = 3.0
_RETENTIONS = [Retention.LIMITS, Retention.INTEREST, Retention.WORK_QUEUE]


def isb_url(isb: InterStepBufferService | None) -> str | None:
    """``status.config.jetstream.url`` (None while the ISB service has not published one)."""
    config = isb.status.config if isb is not None and isb.status is not None else None
    js = config.jetstream if config is not None else None
    return js.url if js is not None and js.url else None


def _seconds(value: Any, field: str) -> float:
    if isinstance(value, int | float):
        return float(value)
    try:
        return parse_duration_seconds(str(value))
    except ValueError as err:
        raise ValueError(f"streamConfig.{field}: {err}") from err


def _unlimited(value: Any) -> int:
    """NumaFlow writes 0 for "no limit" in bucket settings; JetStream says -1."""
    number = int(value)
    return -1 if number <= 0 else number


def stream_settings(isb: InterStepBufferService) -> tuple[BufferConfig, BucketConfig]:
    """Buffer and OT-bucket settings from the ISB service's published stream config (defaults if absent)."""
    config = isb.status.config if isb.status is not None else None
    text = config.jetstream.stream_config if config is not None and config.jetstream is not None else None
    return _parse_stream_settings(isb.name, text or "")


@functools.lru_cache(maxsize=64)
def _parse_stream_settings(isb_name: str, text: str) -> tuple[BufferConfig, BucketConfig]:
    # pure in the published text (YAML parsing costs milliseconds), which changes only when the ISB
    # service is reconfigured; the configs are frozen, so sharing them between reconciles is safe
    doc: Any = yaml.safe_load(text) if text else {}
    if not isinstance(doc, dict):
        raise ValueError(f"isbsvc {isb_name}: status.config.jetstream.streamConfig is not a YAML mapping")
    stream, consumer, ot = doc.get("stream") or {}, doc.get("consumer") or {}, doc.get("otBucket") or {}
    base, bucket = BufferConfig(), BucketConfig()
    retention = int(stream.get("retention", 0))
    if not 0 <= retention < len(_RETENTIONS):
        raise ValueError(f"streamConfig.stream.retention: expected 0, 1 or 2, got {retention}")
    buffers = BufferConfig(
        max_msgs=int(stream.get("maxMsgs", base.max_msgs)),
        max_age=_seconds(stream.get("maxAge", base.max_age), "stream.maxAge"),
        max_bytes=int(stream.get("maxBytes", base.max_bytes)),
        file_storage=int(stream.get("storage", 0)) == 0,
        replicas=int(stream.get("replicas", base.replicas)),
        duplicates=_seconds(stream.get("duplicates", base.duplicates), "stream.duplicates"),
        retention=_RETENTIONS[retention],
        ack_wait=_seconds(consumer.get("ackWait", base.ack_wait), "consumer.ackWait"),
        max_ack_pending=int(consumer.get("maxAckPending", base.max_ack_pending)),
    )
    buckets = BucketConfig(
        history=int(ot.get("history", bucket.history)),
        ttl=_seconds(ot.get("ttl", bucket.ttl), "otBucket.ttl"),
        max_value_size=_unlimited(ot.get("maxValueSize", 0)),
        max_bytes=_unlimited(ot.get("maxBytes", 0)),
        file_storage=int(ot.get("storage", 0)) == 0,
        replicas=int(ot.get("replicas", bucket.replicas)),
    )
    return buffers, buckets


class IsbClients:
    """nats connections by URL, shared by every reconcile of the process."""

    def __init__(self) -> None:
        self._conns: dict[str, NATS] = {}
        self._serials: dict[str, int] = {}
        self._opened = 0
        self._lock = asyncio.Lock()

    async def jetstream(self, url: str) -> JetStreamContext:
        async with self._lock:
            nc = self._conns.get(url)
            if nc is None or nc.is_closed:
                nc = await asyncio.wait_for(
                    connect(url, name="numaflux-pipeline-controller"), CONNECT_TIMEOUT + 1
                )
                self._conns[url] = nc
                self._opened += 1
                self._serials[url] = self._opened
        return nc.jetstream(timeout=REQUEST_TIMEOUT)

    def generation(self, url: str) -> tuple[int, int]:
        """Which connection to `url` and how often it reconnected: a change means the server may have
        restarted (and lost what was ensured), so ensures are not trusted across it."""
        nc = self._conns.get(url)
        if nc is None:
            return (0, 0)
        return (self._serials.get(url, 0), int(nc.stats.get("reconnects", 0)))

    async def forget_except(self, urls: Iterable[str]) -> None:
        """Close connections to URLs not in `urls`."""
        keep = set(urls)
        async with self._lock:
            stale = [u for u in self._conns if u not in keep]
            for url in stale:
                nc = self._conns.pop(url)
                self._serials.pop(url, None)
                with contextlib.suppress(Exception):
                    await nc.close()

    async def close(self) -> None:
        await self.forget_except(())


async def buffer_infos(js: JetStreamContext, pl: Pipeline) -> dict[str, BufferInfo]:
    """Info of every buffer of `pl` that exists (a missing one is left out: it cannot be shown empty);
    the buffers are read at once."""

    async def read(buffer: str, max_length: int, usage_limit: float) -> BufferInfo | None:
        try:
            return await get_buffer_info(js, buffer, max_length=max_length, usage_limit=usage_limit)
        except NotFoundError:
            return None

    reads = []
    for vertex in pl.vertices:
        if vertex.is_source():
            continue
        limits = pl.get_vertex_limits(vertex.get_name())
        for buffer in vertex.owned_buffer_names(pl.namespace, pl.name):
            reads.append(
                read(buffer, limits.get_buffer_max_length(), limits.get_buffer_usage_limit_fraction())
            )
    return {info.buffer: info for info in await all_settled(reads) if info is not None}


async def ensure(
    js: JetStreamContext,
    isb: InterStepBufferService,
    buffers: list[str],
    buckets: list[str],
    side_inputs_store: str | None,
) -> list[admin.Action]:
    """Create what is missing (idempotent), every object at once."""
    buffer_config, bucket_config = stream_settings(isb)
    calls = [
        admin.create_buffers(js, buffers, buffer_config),
        admin.create_buckets(js, buckets, bucket_config),
    ]
    if side_inputs_store is not None:
        calls.append(admin.create_side_inputs_store(js, side_inputs_store))
    return [action for actions in await all_settled(calls) for action in actions]


async def remove(
    js: JetStreamContext, buffers: list[str], buckets: list[str], side_inputs_store: str | None
) -> list[admin.Action]:
    """Delete these buffers, buckets (and side-input store); absent ones count as done."""
    actions = await admin.delete_buffers(js, buffers)
    actions += await admin.delete_buckets(js, buckets)
    if side_inputs_store is not None:
        actions += await admin.delete_side_inputs_store(js, side_inputs_store)
    return actions


async def ensure_plan(
    js: JetStreamContext,
    isb: InterStepBufferService,
    plan: IsbPlan,
    memo: EnsureMemo,
    key: str,
    target: EnsureTarget,
    now: float,
) -> list[admin.Action] | None:
    """Create what ``plan`` wants and delete what it dropped, unless ``memo`` holds a fresh ensure of
    ``target`` for ``key`` (then None: no round trip). Remembered only once both steps succeeded."""
    if not memo.needs_ensure(key, target, plan, now):
        return None
    token = memo.begin(key)
    made = await ensure(js, isb, plan.buffers, plan.buckets, plan.side_inputs_store)
    dropped = await remove(js, plan.delete_buffers, plan.delete_buckets, None)
    memo.remember(key, target, now, token)
    return made + dropped

"""Writing a vertex's output to its out edges: routing by tags, partitions, onFull, watermarks, metrics.

Every message is written to each edge whose conditions its tags meet (a partition per edge chosen by the
edge writer); the call returns once every write is stored (retried until success, deduplicated by
`Nats-Msg-Id`) or dropped under `discardLatest`. Then the batch watermark is published to each written
edge's OT bucket under this processor's key, with the highest offset written per partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import nats.errors
from nats.js import JetStreamContext

from numaflux.api import CombinedEdge
from numaflux.dataplane.metrics import VertexMetrics
from numaflux.dataplane.routing import REASON_FULL, drop_reason, is_keyed_edge, select_edges
from numaflux.isb import BufferWriter, EdgeWriter, Message, OnFull, Publisher, WatermarkPublisher, WriteStatus
from numaflux.isb.config import buffer_name, edge_bucket_name, ot_bucket_name

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Output:
    """A message to write and the tags it was emitted with (tags are never persisted)."""

    message: Message
    tags: list[str] | None = None


@dataclass(slots=True)
class WriteSummary:
    written: int = 0
    duplicates: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n


@dataclass(slots=True)
class _Edge:
    spec: CombinedEdge
    writer: EdgeWriter
    buffers: list[str]
    watermarks: WatermarkPublisher | None


class EdgeOutputs:
    """The out edges of one vertex process."""

    def __init__(
        self,
        js: JetStreamContext,
        publisher: Publisher,
        *,
        namespace: str,
        pipeline: str,
        vertex: str,
        edges: Sequence[CombinedEdge],
        metrics: VertexMetrics,
        source_label: str,
    ) -> None:
        self._js = js
        self._metrics = metrics
        self._source_label = source_label
        self.edges: list[_Edge] = []
        self.specs = list(edges)
        self._namespace = namespace
        self._pipeline = pipeline
        self._vertex = vertex
        for e in edges:
            limits = e.to_vertex_limits
            max_length = limits.get_buffer_max_length() if limits else 30_000
            usage = limits.get_buffer_usage_limit_fraction() if limits else 0.8
            on_full = OnFull.parse(e.on_full)
            buffers = [
                buffer_name(namespace, pipeline, e.get_to(), i) for i in range(e.get_to_vertex_partitions())
            ]
            writers = [
                BufferWriter(
                    js, publisher, b, partition=i, max_length=max_length, usage_limit=usage, on_full=on_full
                )
                for i, b in enumerate(buffers)
            ]
            self.edges.append(_Edge(e, EdgeWriter(writers, keyed=is_keyed_edge(e)), buffers, None))
        self._untagged = select_edges(None, self.specs)  # the same for every untagged message

    def buckets(self) -> list[str]:
        """The OT bucket names of the out edges (without `_OT`)."""
        return [
            edge_bucket_name(self._namespace, self._pipeline, self._vertex, e.spec.get_to())
            for e in self.edges
        ]

    def buffers(self) -> list[str]:
        return [b for e in self.edges for b in e.buffers]

    async def enable_watermarks(self, processor: str) -> None:
        """Publish watermarks to each edge's OT bucket under `processor`."""
        for e, bucket in zip(self.edges, self.buckets(), strict=True):
            kv = await self._js.key_value(ot_bucket_name(bucket))
            e.watermarks = WatermarkPublisher(kv, processor)

    async def write(self, outputs: Sequence[Output], watermark_ms: int = -1) -> WriteSummary:
        """Route and write `outputs`; returns once all are stored or dropped (cancellable)."""
        summary = WriteSummary()
        if not outputs:
            return summary
        per_edge: list[list[Message]] = [[] for _ in self.edges]
        specs = self.specs
        labels = self._metrics.labels(self._source_label)
        untagged = self._untagged
        for out in outputs:
            targets = untagged if not out.tags else select_edges(out.tags, specs)
            if not targets:
                reason = drop_reason(out.tags)
                summary.drop(reason)
                self._metrics.drop_total.labels(*labels, reason).inc()
                self._metrics.drop_bytes_total.labels(*labels, reason).inc(len(out.message.payload))
                continue
            for i in targets:
                per_edge[i].append(out.message)
        jobs = [
            self._write_edge(edge, messages, watermark_ms, summary)
            for edge, messages in zip(self.edges, per_edge, strict=True)
            if messages
        ]
        if len(jobs) == 1:
            await jobs[0]
        else:
            await asyncio.gather(*jobs)  # edges are independent; each keeps its own order
        return summary

    async def _write_edge(
        self, edge: _Edge, messages: list[Message], watermark_ms: int, summary: WriteSummary
    ) -> None:
        results = await edge.writer.write(messages, until_stored=True)
        top: dict[int, int] = {}
        counts: dict[int, int] = {}
        nbytes: dict[int, int] = {}
        dropped: dict[int, int] = {}
        dropped_bytes: dict[int, int] = {}
        for msg, r in zip(messages, results, strict=True):
            p = r.partition
            if r.status is WriteStatus.DROPPED_FULL:
                dropped[p] = dropped.get(p, 0) + 1
                dropped_bytes[p] = dropped_bytes.get(p, 0) + len(msg.payload)
                continue
            if r.status is WriteStatus.DUPLICATE:
                summary.duplicates += 1
            summary.written += 1
            counts[p] = counts.get(p, 0) + 1
            nbytes[p] = nbytes.get(p, 0) + len(msg.payload)
            if r.sequence > top.get(p, 0):
                top[p] = r.sequence
        m = self._metrics
        for p, n in counts.items():
            labels = m.labels(edge.buffers[p])
            m.write_total.labels(*labels).inc(n)
            m.write_bytes_total.labels(*labels).inc(nbytes[p])
        for p, n in dropped.items():
            summary.drop(REASON_FULL, n)
            m.drop_total.labels(*m.labels(edge.buffers[p]), REASON_FULL).inc(n)
            m.drop_bytes_total.labels(*m.labels(edge.buffers[p]), REASON_FULL).inc(dropped_bytes[p])
        if edge.watermarks is not None and watermark_ms >= 0:
            for p, seq in top.items():
                try:
                    await edge.watermarks.publish(p, seq, watermark_ms)
                except (nats.errors.Error, OSError) as err:
                    log.warning("watermark publish to %s failed: %r", edge.buffers[p], err)

"""A non-source vertex's input side: one BufferReader per owned partition, and the watermark of what is
read (minimum over the from edges' OT buckets, upstream processors and partitions)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from nats.aio.client import Client as NATS

from numaflux.api import CombinedEdge
from numaflux.isb import BufferReader, WatermarkFetcher
from numaflux.isb.config import buffer_name, edge_bucket_name, ot_bucket_name

log = logging.getLogger(__name__)


class Inputs:
    """Readers and watermark fetchers of one vertex process."""

    def __init__(
        self,
        nc: NATS,
        *,
        namespace: str,
        pipeline: str,
        vertex: str,
        partitions: int,
        from_edges: Sequence[CombinedEdge],
        batch_size: int,
        read_timeout: float,
    ) -> None:
        self._nc = nc
        self.buffers = [buffer_name(namespace, pipeline, vertex, i) for i in range(partitions)]
        self.buckets = [edge_bucket_name(namespace, pipeline, e.get_from(), vertex) for e in from_edges]
        self.readers = [
            BufferReader(
                nc, b, vertex_name=vertex, partition=i, batch_size=batch_size, read_timeout=read_timeout
            )
            for i, b in enumerate(self.buffers)
        ]
        self.fetchers: list[WatermarkFetcher] = []

    async def start(self, watermarks: bool) -> None:
        if watermarks:
            js = self._nc.jetstream()
            for bucket in self.buckets:
                fetcher = WatermarkFetcher(await js.key_value(ot_bucket_name(bucket)))
                await fetcher.start()
                self.fetchers.append(fetcher)
        for reader in self.readers:
            await reader.start()

    def watermark_at(self, partition: int, sequence: int) -> int:
        """Watermark (epoch ms) of a message read at `sequence` of `partition`; -1 when unknown/disabled."""
        if not self.fetchers:
            return -1
        return min(f.watermark_at(partition, sequence) for f in self.fetchers)

    def stop(self) -> None:
        for reader in self.readers:
            reader.stop()

    async def close(self) -> None:
        for reader in self.readers:
            try:
                await reader.close()
            except Exception:  # closing must reach every reader; the error is logged
                log.exception("closing reader of %s", reader.buffer)
        for fetcher in self.fetchers:
            await fetcher.stop()

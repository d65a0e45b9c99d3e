"""Edge watermarks from the `{edge bucket}_OT` KV buckets (the head watermark per partition of the edge)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from nats.js.errors import BucketNotFoundError

from numaflux.api import Pipeline
from numaflux.daemon.isb import ISBConnection
from numaflux.isb.config import edge_bucket_name, ot_bucket_name
from numaflux.isb.watermark import WatermarkFetcher

log = logging.getLogger(__name__)

SYNC_TIMEOUT = 5.0
NO_WATERMARK = -1


class WatermarksUnavailableError(RuntimeError):
    """An edge's OT bucket is missing or could not be read."""


@dataclass(frozen=True, slots=True)
class EdgeWatermark:
    """NumaFlow's `EdgeWatermark`: head watermark (epoch ms, -1 = none yet) per partition of the edge."""

    pipeline: str
    edge: str
    watermarks: list[int]
    is_watermark_enabled: bool
    from_vertex: str
    to_vertex: str


class WatermarkService:
    """One WatermarkFetcher per edge, started on first use."""

    def __init__(self, pipeline: Pipeline, isb: ISBConnection) -> None:
        self.pipeline = pipeline
        self.isb = isb
        self._fetchers: dict[str, WatermarkFetcher] = {}
        self._lock = asyncio.Lock()

    async def _fetcher(self, bucket: str) -> WatermarkFetcher:
        async with self._lock:
            fetcher = self._fetchers.get(bucket)
            if fetcher is not None:
                return fetcher
            js = self.isb.jetstream()
            kv_name = ot_bucket_name(bucket)
            try:
                kv = await js.key_value(kv_name)
                fetcher = WatermarkFetcher(kv)
                await asyncio.wait_for(fetcher.start(), SYNC_TIMEOUT)
            except BucketNotFoundError as err:
                raise WatermarksUnavailableError(f"watermark bucket {kv_name!r} does not exist") from err
            except TimeoutError as err:
                raise WatermarksUnavailableError(
                    f"watermark bucket {kv_name!r}: no answer in {SYNC_TIMEOUT}s"
                ) from err
            self._fetchers[bucket] = fetcher
            return fetcher

    async def edge_watermarks(self) -> list[EdgeWatermark]:
        pl = self.pipeline
        enabled = not pl.get_watermark().is_disabled()
        out: list[EdgeWatermark] = []
        for edge in pl.edges:
            src, dst = edge.get_from(), edge.get_to()
            to_vertex = pl.get_vertex(dst)
            partitions = to_vertex.get_partition_count() if to_vertex is not None else 1
            if enabled:
                fetcher = await self._fetcher(edge_bucket_name(pl.namespace, pl.name, src, dst))
                marks = [fetcher.head_watermark([p]) for p in range(partitions)]
            else:
                marks = [NO_WATERMARK] * partitions
            out.append(EdgeWatermark(pl.name, f"{src}-{dst}", marks, enabled, src, dst))
        return out

    async def close(self) -> None:
        for fetcher in self._fetchers.values():
            await fetcher.stop()
        self._fetchers.clear()

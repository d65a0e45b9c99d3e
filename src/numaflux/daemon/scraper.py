"""The rater's loops: discover vertex pods by replica index and scrape their metrics on a ticker.

Every tick (5 s by default) all known pods are scraped concurrently and stamped with the same time. The read
counter is summed per `partition_name` over its series; the pending gauge comes from replica 0 only (every
replica for reduce vertices, whose replicas read different partitions).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from numaflux.api import AbstractVertex, Pipeline
from numaflux.daemon.pods import PodMap, PodProvider
from numaflux.daemon.rater import VertexRates

log = logging.getLogger(__name__)

# Data messages only, as NumaFlow's rater: `forwarder_read_total` also counts control messages and would
# count every data message a second time.
READ_TOTAL_METRIC = "forwarder_data_read_total"
PENDING_METRIC = "vertex_pending_messages_raw"
PARTITION_LABEL = "partition_name"
SCRAPE_TIMEOUT = 1.0
WORKERS = 50


@dataclass(frozen=True, slots=True)
class PodSample:
    """One pod's read counters and pending gauges, per partition."""

    reads: dict[str, float] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PartitionMetrics:
    """`VertexMetrics` of one partition: window → rate (msg/s) and window → average pending."""

    pipeline: str
    vertex: str
    partition: str
    processing_rates: dict[str, float]
    pendings: dict[str, int]


def parse_metrics(text: str) -> PodSample:
    """Read counters and pending gauges per partition from Prometheus text (series summed per partition)."""
    reads: dict[str, float] = {}
    pending: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            partition = sample.labels.get(PARTITION_LABEL)
            if not partition:
                continue
            if sample.name == READ_TOTAL_METRIC:
                reads[partition] = reads.get(partition, 0.0) + sample.value
            elif sample.name == PENDING_METRIC:
                pending[partition] = pending.get(partition, 0) + int(sample.value)
    return PodSample(reads, pending)


def vertex_partitions(pipeline: Pipeline, vertex: AbstractVertex) -> list[str]:
    """Partition names as the vertex labels them: its buffers, or its own name for a source."""
    if vertex.is_source():
        return [vertex.get_name()]
    return vertex.owned_buffer_names(pipeline.namespace, pipeline.name)


class Scraper:
    """Snapshot queues of every vertex of a pipeline, fed by scraping the pods a PodProvider finds."""

    def __init__(
        self,
        pipeline: Pipeline,
        provider: PodProvider,
        *,
        clock: Callable[[], float] = time.time,
        scrape_timeout: float = SCRAPE_TIMEOUT,
        workers: int = WORKERS,
    ) -> None:
        self.pipeline = pipeline
        self.provider = provider
        self.clock = clock
        self.rates: dict[str, VertexRates] = {
            v.get_name(): VertexRates(
                v.get_name(), vertex_partitions(pipeline, v), v.get_scale().get_lookback_seconds()
            )
            for v in pipeline.vertices
        }
        self.pods: PodMap = {name: {} for name in self.rates}
        self.scrape_errors: dict[str, int] = dict.fromkeys(self.rates, 0)
        self._reduce = {v.get_name() for v in pipeline.vertices if v.is_reduce_udf()}
        self._timeout = aiohttp.ClientTimeout(total=scrape_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(workers)

    def max_replicas(self) -> dict[str, int]:
        return {v.get_name(): v.get_scale().get_max_replicas() for v in self.pipeline.vertices}

    async def refresh_pods(self) -> PodMap:
        """Ask the provider which pods are active now."""
        found = await self.provider.discover(self.max_replicas())
        self.pods = {name: dict(found.get(name, {})) for name in self.rates}
        return self.pods

    async def _fetch(self, vertex: str, url: str) -> PodSample | None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._slots:
            try:
                async with self._session.get(url) as resp:
                    if resp.status != 200:
                        raise aiohttp.ClientResponseError(
                            resp.request_info, (), status=resp.status, message=resp.reason or ""
                        )
                    text = await resp.text()
                return parse_metrics(text)
            except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                self.scrape_errors[vertex] += 1
                log.warning("scrape %s (%s): %s", url, vertex, err or type(err).__name__)
                return None

    async def scrape_once(self, now: float | None = None) -> float:
        """Scrape every known pod and record one snapshot per vertex, all stamped `now` (default: clock)."""
        stamp = self.clock() if now is None else now
        jobs = [(v, i, url) for v, pods in self.pods.items() for i, url in sorted(pods.items())]
        samples = await asyncio.gather(*(self._fetch(v, url) for v, _, url in jobs))
        reads: dict[str, dict[str, dict[str, float]]] = {v: {} for v in self.rates}
        pending: dict[str, dict[str, int]] = {v: {} for v in self.rates}
        for (vertex, replica, _), sample in zip(jobs, samples, strict=True):
            if sample is None:
                continue
            reads[vertex][f"{vertex}-{replica}"] = sample.reads
            if replica == 0 or vertex in self._reduce:
                for partition, value in sample.pending.items():
                    pending[vertex][partition] = pending[vertex].get(partition, 0) + value
        for vertex, rates in self.rates.items():
            rates.record(stamp, reads[vertex], pending[vertex])
        return stamp

    def update_lookbacks(self, now: float | None = None) -> dict[str, float]:
        """Apply the dynamic lookback rule to every vertex; a change is logged."""
        stamp = self.clock() if now is None else now
        out: dict[str, float] = {}
        for name, rates in self.rates.items():
            before = rates.lookback
            out[name] = rates.update_lookback(stamp)
            if out[name] != before:
                log.info("vertex %s: rate lookback %.0fs -> %.0fs", name, before, out[name])
        return out

    def vertex_metrics(self, vertex: str, now: float | None = None) -> list[PartitionMetrics]:
        """Rates and pendings per partition of `vertex` (KeyError if it is not a vertex of the pipeline)."""
        rates = self.rates[vertex]
        stamp = self.clock() if now is None else now
        return [
            PartitionMetrics(self.pipeline.name, vertex, p, rates.rates(p, stamp), rates.pendings(p, stamp))
            for p in rates.partitions
        ]

    async def run(self, scrape_interval: float, discovery_interval: float, lookback_interval: float) -> None:
        """Discover, scrape and adapt lookbacks forever on their own tickers."""
        await asyncio.gather(
            self._every(discovery_interval, self.refresh_pods, "pod discovery"),
            self._every(scrape_interval, self.scrape_once, "scrape"),
            self._every(
                lookback_interval, self._update_lookbacks_async, "lookback update", initial_delay=True
            ),
        )

    async def _update_lookbacks_async(self) -> None:
        self.update_lookbacks()

    async def _every(
        self,
        interval: float,
        action: Callable[[], object],
        what: str,
        *,
        initial_delay: bool = False,
    ) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + (interval if initial_delay else 0.0)
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += interval
            try:
                result = action()
                if asyncio.iscoroutine(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed", what)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self.provider.close()

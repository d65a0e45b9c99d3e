"""GetVertexMetrics from real scrapes: a tiny metrics server per pod, found through the static provider."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from numaflux.api import Pipeline
from numaflux.daemon.client import DaemonClient
from numaflux.daemon.config import DaemonConfig, Discovery, ISBSettings
from numaflux.daemon.pods import StaticPodProvider, pods_from_list
from numaflux.daemon.scraper import parse_metrics
from numaflux.daemon.server import Daemon
from numaflux.isb.server import NatsServer, free_port

from .conftest import SESSION_LOOP, make_pipeline, start_daemon, stop_daemon, unique_name


@dataclass
class ManualClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


class PodMetrics:
    """A vertex pod's metrics endpoint: forwarder_data_read_total and vertex_pending_messages_raw."""

    def __init__(self, partition: str) -> None:
        self.partition = partition
        self.registry = CollectorRegistry()
        labels = ("vertex", "partition_name")
        self.read = Counter("forwarder_data_read", "data read", labels, registry=self.registry)
        self.pending = Gauge("vertex_pending_messages_raw", "pending", labels, registry=self.registry)
        self.runner: web.AppRunner | None = None
        self.url = ""

    def advance(self, n: int) -> None:
        self.read.labels("cat", self.partition).inc(n)

    def set_pending(self, n: int) -> None:
        self.pending.labels("cat", self.partition).set(n)

    async def start(self) -> None:
        async def metrics(request: web.Request) -> web.Response:
            return web.Response(body=generate_latest(self.registry), content_type="text/plain")

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/metrics"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def pods() -> AsyncIterator[tuple[Pipeline, PodMetrics, PodMetrics]]:
    pl = make_pipeline(unique_name())
    buffer = pl.all_buffers()[0]
    p0, p1 = PodMetrics(buffer), PodMetrics(buffer)
    await p0.start()
    await p1.start()
    yield pl, p0, p1
    await p0.stop()
    await p1.stop()


@SESSION_LOOP
@pytest.mark.timeout(60)
async def test_vertex_metrics_rate_and_pending_are_exact(
    nats_server: NatsServer, pods: tuple[Pipeline, PodMetrics, PodMetrics]
) -> None:
    pl, p0, p1 = pods
    buffer = pl.all_buffers()[0]
    clock = ManualClock()
    config = DaemonConfig(
        pipeline=pl,
        namespace=pl.namespace,
        isb=ISBSettings(nats_server.url),
        port=free_port(),
        discovery=Discovery.STATIC,
    )
    provider = StaticPodProvider({"cat": {0: p0.url, 1: p1.url}})
    daemon = Daemon(config, provider, clock=clock)
    await daemon.start(loops=False)  # ticks are driven here, with the clock
    try:
        assert await daemon.scraper.refresh_pods() == {"in": {}, "cat": {0: p0.url, 1: p1.url}, "out": {}}
        steps = [(0, 0, 7), (40, 5, 9), (60, 15, 11), (30, 500, 13)]  # (pod 0 +n, pod 1 +n, pending)
        for read0, read1, pending in steps:
            p0.advance(read0)
            p1.advance(read1)
            p0.set_pending(pending)
            p1.set_pending(1000)  # only replica 0's pending counts
            await daemon.scraper.scrape_once()
            clock.now += 5
        clock.now -= 5  # now = the last tick, 1015
        async with DaemonClient(daemon.url) as client:
            [m] = await client.get_vertex_metrics(pl.name, "cat")
        assert (m.vertex, m.partition) == ("cat", buffer)
        # ticks 1000..1010 are complete: (40 + 5) + (60 + 15) = 120 messages in 10 s
        assert m.processing_rates == {"default": 12.0, "1m": 12.0, "5m": 12.0, "15m": 12.0}
        # (7 + 9 + 11 + 13) // 4
        assert m.pendings == {"default": 10, "1m": 10, "5m": 10, "15m": 10}
    finally:
        await daemon.stop()


def test_parse_metrics_sums_series_per_partition() -> None:
    text = (
        "# TYPE forwarder_data_read counter\n"
        'forwarder_data_read_total{partition_name="b-0",replica="0"} 5\n'
        'forwarder_data_read_total{partition_name="b-0",replica="x"} 2\n'
        'forwarder_data_read_total{partition_name="b-1",replica="0"} 1\n'
        "# TYPE forwarder_read counter\n"
        'forwarder_read_total{partition_name="b-0",replica="0"} 8\n'
        "# TYPE vertex_pending_messages_raw gauge\n"
        'vertex_pending_messages_raw{partition_name="b-0"} 42\n'
        "# TYPE other_total counter\n"
        'other_total{partition_name="b-0"} 99\n'
    )
    sample = parse_metrics(text)
    assert sample.reads == {"b-0": 7.0, "b-1": 1.0}
    assert sample.pending == {"b-0": 42}


def test_kubernetes_pod_list_maps_running_pods_by_replica_annotation() -> None:
    def pod(vertex: str, replica: str, ip: str, phase: str = "Running") -> dict[str, object]:
        return {
            "metadata": {
                "name": f"pl-{vertex}-{replica}-abcde",
                "labels": {"numaflow.numaproj.io/vertex-name": vertex},
                "annotations": {"numaflow.numaproj.io/replica": replica},
            },
            "status": {"phase": phase, "podIP": ip},
        }

    items = [
        pod("cat", "0", "127.0.0.5"),
        pod("cat", "1", "127.0.0.6"),
        pod("cat", "2", "127.0.0.7", "Pending"),
    ]
    items.append(pod("cat", "3", "127.0.0.8"))  # at max replicas: not tracked
    items.append(pod("other", "0", "127.0.0.9"))
    assert pods_from_list(items, {"cat": 3, "out": 1}, 2469) == {
        "cat": {0: "http://127.0.0.5:2469/metrics", 1: "http://127.0.0.6:2469/metrics"},
        "out": {},
    }


@SESSION_LOOP
@pytest.mark.timeout(60)
async def test_daemon_process_scrapes_on_its_own_ticker(
    nats_server: NatsServer, pods: tuple[Pipeline, PodMetrics, PodMetrics], tmp_path: Path
) -> None:
    pl, p0, _ = pods
    static = json.dumps({"cat": {"0": p0.url}})
    env = {"NUMAFLUX_DAEMON_STATIC_PODS": static, "NUMAFLUX_DAEMON_SCRAPE_INTERVAL": "0.2"}
    daemon = await start_daemon(pl, nats_server.url, tmp_path / "daemon.log", env)
    try:
        async with DaemonClient(daemon.url) as client:

            async def rate() -> float:
                while True:
                    p0.advance(10)
                    p0.set_pending(3)
                    [m] = await client.get_vertex_metrics(pl.name, "cat")
                    value = m.processing_rates["default"]
                    if value is not None and value > 0 and m.pendings["default"] == 3:
                        return value
                    await asyncio.sleep(0.1)

            assert await asyncio.wait_for(rate(), 20) > 0
    finally:
        stop_daemon(daemon)

"""Prometheus metrics on the local cluster, scraped from the real endpoints: the controller manager's
(read from its caches, so they follow the objects) and the vertex pods'; and the daemon's buffer numbers
agreeing exactly with JetStream's consumer info and with the vertices' counters once the pipeline is quiet."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from numaflux.api import InterStepBufferService, Pipeline
from numaflux.controller.kube import ISB_SERVICE, JSON, PIPELINE, VERTEX, KubeClient
from numaflux.daemon.client import DaemonClient

from .accounting import Accounting
from .cluster import Cluster, Process, wait_for
from .helpers import is_ready, pods_of, until
from .test_pipeline_e2e import all_vertex_pods, create_isb, isb_url, set_desired

pytestmark = pytest.mark.timeout(300)

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def metrics_manager(cluster: Cluster) -> Iterator[tuple[Process, str]]:
    """A leading controller manager serving /metrics on a free loopback port; (process, metrics URL)."""
    address = cluster.data_dir / "run" / "controller.metrics"
    address.unlink(missing_ok=True)
    cluster.ready_file.unlink(missing_ok=True)
    proc = cluster.controller("--metrics-port", "0")
    try:
        wait_for(lambda: cluster.ready_file.exists() and address.exists(), "controller ready with metrics")
        yield proc, address.read_text().strip()
    finally:
        if proc.running():
            assert proc.terminate() == 0, proc.output()[-3000:]
        assert not address.exists()  # removed on a clean shutdown


async def scrape(url: str) -> Series:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as r:
        assert r.status == 200, url
        text = await r.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float | None:
    return series.get((name, frozenset(labels.items())))


def pipeline_body(namespace: str) -> JSON:
    """HTTP source → log sink; the sink's autoscaling is off so its replicas are only what the test sets."""
    return {
        "metadata": {"name": "pl", "namespace": namespace},
        "spec": {
            "lifecycle": {"pauseGracePeriodSeconds": 20},
            "vertices": [
                {"name": "in", "scale": {"min": 1, "max": 2}, "source": {"http": {"ports": {"http": 8090}}}},
                {"name": "out", "scale": {"disabled": True, "min": 0, "max": 2}, "sink": {"log": {}}},
            ],
            "edges": [{"from": "in", "to": "out"}],
        },
    }


async def pod_metrics_url(kube: KubeClient, namespace: str, prefix: str) -> str | None:
    pods = [p for p in await pods_of(kube, namespace, prefix) if is_ready(p)]
    return f"http://{pods[0]['status']['podIP']}:2469/metrics" if len(pods) == 1 else None


async def consumer(url: str, buffer: str) -> tuple[int, int]:
    """JetStream's own (num_pending, num_ack_pending) of the buffer's consumer."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info(buffer, buffer)
        return info.num_pending or 0, info.num_ack_pending or 0
    finally:
        await nc.close()


async def test_controller_and_vertex_metrics_follow_the_objects_and_the_daemon_agrees_with_jetstream(
    cluster: Cluster, metrics_manager: tuple[Process, str], kube: KubeClient, namespace: str
) -> None:
    _, url = metrics_manager
    ns = namespace
    assert url.startswith("http://127.0.0.1:")
    series = await scrape(url)
    assert any(name == "controller_build_info" for name, _ in series)

    # --- the ISB service
    await create_isb(kube, ns)
    isb_nats = await until(lambda: isb_url(kube, ns), "ISB service Running with a URL", 90)
    isb = InterStepBufferService.model_validate(await kube.get(ISB_SERVICE, ns, "default"))
    assert isb.spec.jetstream is not None

    async def isb_metrics() -> Series | None:
        s = await scrape(url)
        return s if value(s, "controller_isbsvc_health", ns=ns, isbsvc="default") == 1 else None

    series = await until(isb_metrics, "controller_isbsvc_health 1", 30)
    replicas = value(series, "controller_isbsvc_jetstream_replicas", ns=ns, isbsvc="default")
    assert replicas == isb.spec.jetstream.get_replicas()

    # --- the pipeline, its sink held at 0 replicas
    await kube.create(PIPELINE, pipeline_body(ns))
    await until(lambda: _vertex(kube, ns, "pl-out"), "Vertex pl-out", 60)
    await kube.patch(VERTEX, ns, "pl-out", {"spec": {"replicas": 0}})

    def vertex(s: Series, metric: str, name: str) -> float | None:
        return value(s, f"controller_vertex_{metric}_replicas", ns=ns, pipeline="pl", vertex=name)

    async def running_with_in_1_out_0() -> Series | None:
        s = await scrape(url)
        want = {("desired", "in"): 1, ("current", "in"): 1, ("desired", "out"): 0, ("current", "out"): 0}
        got = {key: vertex(s, *key) for key in want}
        phase = value(s, "controller_pipeline_current_phase", ns=ns, pipeline="pl")
        return s if got == want and phase == 1 else None

    series = await until(running_with_in_1_out_0, "pipeline Running, in at 1 and out at 0", 120)

    async def no_sink_pod() -> bool:  # a terminating sink pod reads until its process is gone
        return not [p for p in await all_vertex_pods(kube, ns) if p["metadata"]["name"].startswith("pl-out-")]

    await until(no_sink_pod, "no pl-out pod, terminating ones included", 60)
    assert [vertex(series, m, "in") for m in ("min", "max")] == [1, 2]
    assert [vertex(series, m, "out") for m in ("min", "max")] == [0, 2]
    assert value(series, "controller_pipeline_desired_phase", ns=ns, pipeline="pl") == 1
    await _health_agrees(kube, ns, url)

    # --- messages held in the sink's buffer
    buffer = f"{ns}-pl-out-0"
    total = 12
    async with Accounting(cluster, kube, ns) as acct:

        async def one_source() -> str | None:
            urls = await acct.source_urls()
            return urls[0] if len(urls) == 1 else None

        source = await until(one_source, "HTTP source Ready", 90)
        for i in acct.take_ids(total):  # one at a time: each id is answered 200 exactly once
            assert await acct.send_one(source, i, attempts=25), acct.refusals[-3:]
        source_url = await until(lambda: pod_metrics_url(kube, ns, "pl-in-"), "one source pod", 30)
        daemon_url = await until(lambda: _daemon_url(kube, ns), "daemon pod Ready", 60)

        async with DaemonClient(daemon_url) as daemon:
            held = await _quiet(isb_nats, buffer, daemon, "pl")
            assert held == ((total, 0), (total, 0))  # (JetStream, daemon) pending and ack-pending
            src = await scrape(source_url)
            print(f"\nrefused and retried before the 200: {acct.refusals}")
            labels = {"vertex": "in", "pipeline": "pl", "vertex_type": "Source", "replica": "0"}
            assert value(src, "forwarder_read_total", **labels, partition_name="in") == total
            assert value(src, "forwarder_data_read_total", **labels, partition_name="in") == total
            assert value(src, "forwarder_ack_total", **labels, partition_name="in") == total
            assert value(src, "forwarder_write_total", **labels, partition_name=buffer) == total
            assert (value(src, "forwarder_processing_time_count", **labels, partition_name="in") or 0) >= 1

            # --- the sink scaled to 1 drains it; every counter agrees
            await kube.patch(VERTEX, ns, "pl-out", {"spec": {"replicas": 1}})
            sink_url = await until(lambda: pod_metrics_url(kube, ns, "pl-out-"), "one sink pod", 90)
            drained = await _quiet(isb_nats, buffer, daemon, "pl")
            assert drained == ((0, 0), (0, 0))
            await acct.assert_nothing_lost("held then drained", 30)

            sink_labels = {"vertex": "out", "pipeline": "pl", "vertex_type": "Sink", "replica": "0"}

            async def sink_counters() -> Series | None:
                s = await scrape(sink_url)
                pending = value(s, "vertex_pending_messages_raw", **sink_labels, partition_name=buffer)
                return s if pending == 0 else None

            sink = await until(sink_counters, "the sink's pending gauge at 0", 30)
            for metric in ("forwarder_read_total", "forwarder_data_read_total", "forwarder_ack_total"):
                assert value(sink, metric, **sink_labels, partition_name=buffer) == total, metric
            assert value(sink, "sink_write_total", **sink_labels, partition_name=buffer) == total
            # every read was acked and written: nothing dropped, nothing failed
            assert not [k for k in sink if k[0] in ("forwarder_drop_total", "forwarder_error_total")]

    series = await scrape(url)
    assert vertex(series, "desired", "out") == 1

    # --- pause: both phases and the desired replicas follow
    await set_desired(kube, ns, "Paused")

    async def paused() -> Series | None:
        s = await scrape(url)
        ok = (
            value(s, "controller_pipeline_desired_phase", ns=ns, pipeline="pl") == 2
            and value(s, "controller_pipeline_current_phase", ns=ns, pipeline="pl") == 2
            and vertex(s, "desired", "in") == 0
            and vertex(s, "desired", "out") == 0
        )
        return s if ok else None

    await until(paused, "metrics show the pause", 120)
    await _health_agrees(kube, ns, url)


async def _vertex(kube: KubeClient, namespace: str, name: str) -> JSON | None:
    items = (await kube.list(VERTEX, namespace)).get("items") or []
    return next((v for v in items if v["metadata"]["name"] == name), None)


async def _daemon_url(kube: KubeClient, namespace: str) -> str | None:
    pods = [p for p in await pods_of(kube, namespace, "pl-daemon-") if is_ready(p)]
    return f"http://{pods[0]['status']['podIP']}:4327" if pods else None


async def _health_agrees(kube: KubeClient, namespace: str, url: str) -> None:
    """controller_pipeline_health is the model's is_healthy() of the object as it was when scraped."""

    async def agrees() -> bool:
        before = await kube.get(PIPELINE, namespace, "pl")
        s = await scrape(url)
        after = await kube.get(PIPELINE, namespace, "pl")
        if before["metadata"]["resourceVersion"] != after["metadata"]["resourceVersion"]:
            return False  # changed meanwhile: look again
        healthy = Pipeline.model_validate(after).get_status().is_healthy()
        return value(s, "controller_pipeline_health", ns=namespace, pipeline="pl") == (1 if healthy else 0)

    await until(agrees, "controller_pipeline_health follows the Pipeline's status", 30)


async def _quiet(
    isb: str, buffer: str, daemon: DaemonClient, pipeline: str
) -> tuple[tuple[int, int], tuple[int, int]]:
    """JetStream's and the daemon's (pending, ackPending) of `buffer` once two looks 0.5 s apart agree."""
    last: list[tuple[tuple[int, int], tuple[int, int]]] = []

    async def look() -> tuple[tuple[int, int], tuple[int, int]] | None:
        js = await consumer(isb, buffer)
        info = await daemon.get_buffer(pipeline, buffer)
        now = (js, (info.pending, info.ack_pending))
        stable = bool(last) and last[-1] == now and js == now[1]
        last.append(now)
        return now if stable else None

    async def settled() -> tuple[tuple[int, int], tuple[int, int]] | None:
        await asyncio.sleep(0.5)
        return await look()

    return await until(settled, f"{buffer}: JetStream and the daemon agree and stay put", 60)

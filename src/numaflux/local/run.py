"""What `numaflux run` does apart from drawing: start the cluster, ensure the ISB service, apply documents,
observe a pipeline (phase, vertex replicas, read rates from the pods' metrics) and pause it with drain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from numaflux.api import constants as c
from numaflux.controller.kube import ISB_SERVICE, JSON, PIPELINE, POD, VERTEX, Kind, KubeClient, is_conflict
from numaflux.daemon.pods import metrics_url
from numaflux.local import cluster, supervisor

KINDS: dict[str, Kind] = {"Pipeline": PIPELINE, "InterStepBufferService": ISB_SERVICE, "Vertex": VERTEX}
READ_TOTAL = "forwarder_read_total"
DEFAULT_NAMESPACE = "default"
ISB_NAME = c.DEFAULT_ISB_SERVICE_NAME


def start_cluster(data_dir: Path) -> None:
    """Start every component of the local cluster that is not running; raises supervisor.StartError."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for component in cluster.components(data_dir):
        supervisor.start(data_dir, component)


async def apply(kube: KubeClient, doc: JSON, namespace: str) -> str:
    """Create the object, or replace its spec (keeping server-owned metadata); 'created' or 'updated'."""
    kind = KINDS.get(str(doc.get("kind")))
    if kind is None:
        raise ValueError(f"kind {doc.get('kind')!r} cannot be applied by `numaflux run`")
    body = {**doc, "metadata": {**doc.get("metadata", {}), "namespace": namespace}}
    try:
        await kube.create(kind, body)
        return "created"
    except ApiException as err:
        if not is_conflict(err):
            raise
    name = body["metadata"]["name"]
    for _ in range(5):
        current = await kube.get(kind, namespace, name)
        meta = current["metadata"]
        for key in ("labels", "annotations"):
            meta[key] = {**(meta.get(key) or {}), **(body["metadata"].get(key) or {})}
        current["spec"] = body.get("spec") or {}
        try:
            await kube.replace(kind, current)
            return "updated"
        except ApiException as err:
            if not is_conflict(err):
                raise
    raise RuntimeError(f"{kind.kind}/{name}: kept conflicting with concurrent updates")


def isb_healthy(obj: JSON) -> bool:
    """The ISB controller's verdict: phase Running with a published JetStream URL."""
    status = obj.get("status") or {}
    url = ((status.get("config") or {}).get("jetstream") or {}).get("url")
    return status.get("phase") == "Running" and bool(url)


async def ensure_isb(kube: KubeClient, namespace: str, within: float, clock: Callable[[], float]) -> bool:
    """Create ISB service `default` (jetstream, 1 replica) if missing; wait until healthy. True if created."""
    created = False
    try:
        obj = await kube.get(ISB_SERVICE, namespace, ISB_NAME)
    except ApiException as err:
        if err.status != 404:
            raise
        body: JSON = {
            "metadata": {"name": ISB_NAME, "namespace": namespace},
            "spec": {"jetstream": {"version": "latest", "replicas": 1}},
        }
        obj = await kube.create(ISB_SERVICE, body)
        created = True
    deadline = clock() + within
    while not isb_healthy(obj):
        if clock() >= deadline:
            status = obj.get("status") or {}
            raise TimeoutError(
                f"InterStepBufferService {namespace}/{ISB_NAME} not healthy within {within:g}s "
                f"(phase {status.get('phase')!r}, message {status.get('message')!r})"
            )
        await asyncio.sleep(0.5)
        obj = await kube.get(ISB_SERVICE, namespace, ISB_NAME)
    return created


def read_total(metrics_text: str) -> float:
    """Sum of `forwarder_read_total` over every partition in a Prometheus text exposition."""
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == READ_TOTAL:
                total += sample.value
    return total


@dataclass
class VertexRow:
    """One vertex as the table shows it."""

    name: str
    desired: int
    current: int
    ready: int
    is_sink: bool
    rate: float = 0.0
    read: float = 0.0
    pods: list[str] = field(default_factory=list)


@dataclass
class Snapshot:
    """The pipeline at one moment."""

    phase: str
    message: str
    drained_on_pause: bool | None
    vertices: list[VertexRow]


def _pod_running(pod: JSON) -> bool:
    """Worth scraping: Running with an address. Not only Ready pods — a pod whose readiness probe lags
    (a busy machine) is still processing, and its counters belong in the totals."""
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and bool(status.get("podIP"))


class RateMeter:
    """Per-pod counters → per-vertex totals and rates. Totals keep the last value seen from every pod,
    so they survive pods going away when the pipeline pauses."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[str, float, float]] = {}  # pod → (vertex, time, counter)
        self.rates: dict[str, float] = {}  # pod → msgs/s over its last interval

    def observe(self, pod: str, vertex: str, now: float, value: float) -> None:
        previous = self.last.get(pod)
        if previous is not None and now > previous[1]:
            self.rates[pod] = max(0.0, value - previous[2]) / (now - previous[1])
        self.last[pod] = (vertex, now, value)

    def forget_rate(self, pod: str) -> None:
        self.rates.pop(pod, None)

    def total(self, vertex: str) -> float:
        return sum(value for v, _, value in self.last.values() if v == vertex)

    def rate(self, vertex: str, pods: list[str]) -> float:
        return sum(self.rates.get(pod, 0.0) for pod in pods)


class Observer:
    """Reads the pipeline, its vertices and pods, and scrapes each running pod's metrics."""

    def __init__(self, kube: KubeClient, namespace: str, pipeline: str, clock: Callable[[], float]) -> None:
        self.kube = kube
        self.namespace = namespace
        self.pipeline = pipeline
        self.clock = clock
        self.meter = RateMeter()
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.5))

    async def close(self) -> None:
        await self.session.close()

    async def _scrape(self, pod: str, vertex: str, ip: str) -> None:
        try:
            async with self.session.get(metrics_url(ip)) as response:
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError):
            self.meter.forget_rate(pod)  # a pod that stopped answering has no current rate
            return
        self.meter.observe(pod, vertex, self.clock(), read_total(text))

    async def snapshot(self) -> Snapshot:
        pl = await self.kube.get(PIPELINE, self.namespace, self.pipeline)
        selector = f"{c.KEY_PIPELINE_NAME}={self.pipeline}"
        vertices = (await self.kube.list(VERTEX, self.namespace, labelSelector=selector)).get("items") or []
        pods = (await self.kube.list(POD, self.namespace, labelSelector=selector)).get("items") or []
        rows: dict[str, VertexRow] = {}
        for v in sorted(vertices, key=lambda item: str(item["metadata"]["name"])):
            labels = v["metadata"].get("labels") or {}
            name = str(labels.get(c.KEY_VERTEX_NAME) or v["metadata"]["name"])
            spec, status = v.get("spec") or {}, v.get("status") or {}
            rows[name] = VertexRow(
                name=name,
                desired=int(status.get("desiredReplicas", spec.get("replicas", 0)) or 0),
                current=int(status.get("replicas", 0) or 0),
                ready=int(status.get("readyReplicas", 0) or 0),
                is_sink=bool(spec.get("sink")),
            )
        scrapes = []
        for pod in pods:
            meta = pod["metadata"]
            vertex = (meta.get("labels") or {}).get(c.KEY_VERTEX_NAME)
            if vertex not in rows or meta.get("deletionTimestamp"):
                continue
            rows[vertex].pods.append(str(meta["name"]))
            if _pod_running(pod):
                scrapes.append(self._scrape(str(meta["name"]), vertex, str(pod["status"]["podIP"])))
        await asyncio.gather(*scrapes)
        for row in rows.values():
            row.rate = self.meter.rate(row.name, row.pods)
            row.read = self.meter.total(row.name)
        # the pipeline's own vertex order (source first) reads better than alphabetical
        order = [str(v.get("name")) for v in (pl.get("spec") or {}).get("vertices") or []]
        ranked = sorted(rows.values(), key=lambda r: order.index(r.name) if r.name in order else len(order))
        status = pl.get("status") or {}
        drained = status.get("drainedOnPause")
        return Snapshot(
            phase=str(status.get("phase") or "Pending"),
            message=str(status.get("message") or ""),
            drained_on_pause=bool(drained) if drained is not None else None,
            vertices=ranked,
        )


async def pause(kube: KubeClient, namespace: str, pipeline: str) -> None:
    """Ask the controller to pause (drain first) by setting spec.lifecycle.desiredPhase."""
    await kube.patch(PIPELINE, namespace, pipeline, {"spec": {"lifecycle": {"desiredPhase": "Paused"}}})


def pause_deadline(grace_seconds: int, started: float, margin: float = 30.0) -> float:
    """When to stop waiting for Paused: the pipeline's pause grace period plus a margin for the controller."""
    return started + grace_seconds + margin


def monotonic() -> float:
    """The clock `numaflux run` passes to its decision logic."""
    return time.monotonic()


def namespace_of(doc: dict[str, Any]) -> str:
    """The document's namespace, or `default`."""
    meta = doc.get("metadata") or {}
    return str(meta.get("namespace") or DEFAULT_NAMESPACE)

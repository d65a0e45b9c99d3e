"""The controller manager's Prometheus metrics, with NumaFlow's names and labels.

One custom collector reads the informer caches at scrape time, so the numbers are the objects' own
(spec and status as last observed) and no reconciler keeps a copy of them. Object series are exported
only while this manager leads (a standby's caches are warm, but NumaFlow's standbys report nothing);
``controller_build_info`` is always there. Served over plain HTTP by an aiohttp app on the manager's
event loop, which is also the thread that updates the caches.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from pydantic import ValidationError

from numaflux import __version__
from numaflux.api import constants as c
from numaflux.api.isbsvc import InterStepBufferService
from numaflux.api.pipeline import Pipeline
from numaflux.api.vertex import Vertex
from numaflux.controller.informer import Informer, InformerFactory
from numaflux.controller.kube import ISB_SERVICE, PIPELINE, VERTEX, Kind
from numaflux.controller.logs import kv

log = logging.getLogger(__name__)

_NS = "ns"
_PIPELINE_LABELS = (_NS, "pipeline")
_ISBSVC_LABELS = (_NS, "isbsvc")
_VERTEX_LABELS = (_NS, "pipeline", "vertex")

_DESIRED_PHASE_CODES = {c.PipelinePhase.RUNNING.value: 1, c.PipelinePhase.PAUSED.value: 2}


def _families() -> dict[str, GaugeMetricFamily]:
    def gauge(name: str, doc: str, labels: tuple[str, ...]) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"controller_{name}", doc, labels=labels)

    return {
        "isbsvc_health": gauge("isbsvc_health", "ISB service healthy: 1, else 0", _ISBSVC_LABELS),
        "isbsvc_jetstream_replicas": gauge(
            "isbsvc_jetstream_replicas", "Replicas of a JetStream ISB service", _ISBSVC_LABELS
        ),
        "pipeline_health": gauge("pipeline_health", "Pipeline healthy: 1, else 0", _PIPELINE_LABELS),
        "pipeline_desired_phase": gauge(
            "pipeline_desired_phase", "Desired phase: 1 Running, 2 Paused", _PIPELINE_LABELS
        ),
        "pipeline_current_phase": gauge(
            "pipeline_current_phase",
            "Phase: 0 Unknown, 1 Running, 2 Paused, 3 Failed, 4 Pausing, 5 Deleting",
            _PIPELINE_LABELS,
        ),
        "vertex_desired_replicas": gauge(
            "vertex_desired_replicas", "Desired replicas of a Vertex", _VERTEX_LABELS
        ),
        "vertex_current_replicas": gauge(
            "vertex_current_replicas", "Current replicas of a Vertex", _VERTEX_LABELS
        ),
        "vertex_min_replicas": gauge("vertex_min_replicas", "Min replicas of a Vertex", _VERTEX_LABELS),
        "vertex_max_replicas": gauge("vertex_max_replicas", "Max replicas of a Vertex", _VERTEX_LABELS),
    }


T = TypeVar("T")


def _parsed(model: Callable[[Any], T], objects: Iterable[dict[str, Any]]) -> Iterator[T]:
    """Each cached object as its model; one that does not parse is skipped (its controller reports it)."""
    for obj in objects:
        try:
            yield model(obj)
        except ValidationError:
            continue


class ControllerCollector(Collector):
    """Reads the Pipeline, Vertex and ISB service caches on every scrape."""

    def __init__(self, informers: InformerFactory, leading: Callable[[], bool]) -> None:
        self._informers = informers
        self._leading = leading

    def _cached(self, kind: Kind) -> list[dict[str, Any]]:
        # never create an informer here: one created after start would never be run
        informer: Informer | None = self._informers.informers.get(kind)
        return informer.store.all() if informer is not None else []

    def collect(self) -> Iterator[Metric]:
        build = GaugeMetricFamily(
            "controller_build_info",
            "Constant 1, labelled with the controller's version and platform",
            labels=("version", "platform"),
        )
        build.add_metric([__version__, f"{platform.system().lower()}/{platform.machine()}"], 1)
        yield build
        families = _families()
        if self._leading():
            self._isb_services(families)
            self._pipelines(families)
            self._vertices(families)
        yield from families.values()

    def _isb_services(self, f: dict[str, GaugeMetricFamily]) -> None:
        for isb in _parsed(InterStepBufferService.model_validate, self._cached(ISB_SERVICE)):
            labels = [isb.metadata.namespace or "", isb.metadata.name or ""]
            healthy = isb.status is not None and isb.status.is_healthy()
            f["isbsvc_health"].add_metric(labels, 1 if healthy else 0)
            if isb.spec.jetstream is not None:
                f["isbsvc_jetstream_replicas"].add_metric(labels, isb.spec.jetstream.get_replicas())

    def _pipelines(self, f: dict[str, GaugeMetricFamily]) -> None:
        for pl in _parsed(Pipeline.model_validate, self._cached(PIPELINE)):
            labels = [pl.namespace, pl.name]
            status = pl.get_status()
            f["pipeline_health"].add_metric(labels, 1 if status.is_healthy() else 0)
            f["pipeline_desired_phase"].add_metric(
                labels, _DESIRED_PHASE_CODES.get(pl.get_desired_phase(), 0)
            )
            f["pipeline_current_phase"].add_metric(labels, c.PipelinePhase(status.phase or "").code)

    def _vertices(self, f: dict[str, GaugeMetricFamily]) -> None:
        for vtx in _parsed(Vertex.model_validate, self._cached(VERTEX)):
            labels = [vtx.namespace, vtx.spec.pipeline_name or "", vtx.spec.name or ""]
            scale = vtx.spec.get_scale()
            f["vertex_desired_replicas"].add_metric(labels, vtx.calculate_replicas())
            f["vertex_current_replicas"].add_metric(labels, (vtx.status and vtx.status.replicas) or 0)
            f["vertex_min_replicas"].add_metric(labels, scale.get_min_replicas())
            f["vertex_max_replicas"].add_metric(labels, scale.get_max_replicas())


class MetricsServer:
    """`/metrics` of the controller manager on `host:port`.

    Locally (`fallback=True`) a busy port is not fatal: the server takes a free one and the address it
    bound is written to `address_file`, where `numaflux local up` finds it.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        host: str,
        port: int,
        *,
        fallback: bool = False,
        address_file: Path | None = None,
    ) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self.fallback = fallback
        self.address_file = address_file
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Start serving; returns the URL of `/metrics`."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as err:
            if not self.fallback:
                raise
            log.warning(kv("metrics port busy, taking a free one", port=self.port, error=str(err)))
            site = web.TCPSite(self._runner, self.host, 0)
            await site.start()
        self.port = int(self._runner.addresses[0][1])
        url = f"http://{self.host}:{self.port}/metrics"
        if self.address_file is not None:
            self.address_file.parent.mkdir(parents=True, exist_ok=True)
            self.address_file.write_text(url + "\n")
        log.info(kv("controller metrics", url=url))
        return url

    async def stop(self) -> None:
        if self.address_file is not None:
            self.address_file.unlink(missing_ok=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )


def registry_for(informers: InformerFactory, leading: Callable[[], bool]) -> CollectorRegistry:
    """A registry holding only the controller's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ControllerCollector(informers, leading))
    return registry

"""REST routes of the daemon (NumaFlow's grpc-gateway paths and camelCase JSON) plus probes and /metrics.

Errors are JSON `{"code": status, "message": ...}`: 404 for an unknown pipeline, buffer or vertex; 503 when
the ISB service (or a watermark bucket) cannot be read.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from numaflux.daemon.buffers import buffer_info_json
from numaflux.daemon.health import HealthState
from numaflux.daemon.isb import ISBUnavailableError
from numaflux.daemon.scraper import PartitionMetrics
from numaflux.daemon.service import DaemonService, NotFoundInPipelineError
from numaflux.daemon.watermarks import EdgeWatermark, WatermarksUnavailableError

PREFIX = "/api/v1/pipelines/{pipeline}"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"code": status, "message": message}, status=status)


def vertex_metrics_json(m: PartitionMetrics) -> dict[str, Any]:
    return {
        "pipeline": m.pipeline,
        "vertex": m.vertex,
        "partition": m.partition,
        "processingRates": m.processing_rates,
        "pendings": m.pendings,
    }


def edge_watermark_json(w: EdgeWatermark) -> dict[str, Any]:
    return {
        "pipeline": w.pipeline,
        "edge": w.edge,
        "watermarks": w.watermarks,
        "isWatermarkEnabled": w.is_watermark_enabled,
        "from": w.from_vertex,
        "to": w.to_vertex,
    }


class DaemonMetrics:
    """The daemon's own Prometheus metrics, refreshed from the service state on every scrape."""

    def __init__(self, service: DaemonService) -> None:
        self.service = service
        self.registry = r = CollectorRegistry()
        buf = ("pipeline", "buffer")
        self.isb_connected = Gauge("daemon_isb_connected", "1 while connected to the ISB service", registry=r)
        self.pending = Gauge("daemon_buffer_pending_messages", "Pending messages per buffer", buf, registry=r)
        self.ack_pending = Gauge(
            "daemon_buffer_ack_pending_messages", "Messages being processed per buffer", buf, registry=r
        )
        self.usage = Gauge("daemon_buffer_usage", "Buffer usage (fraction of bufferLength)", buf, registry=r)
        self.health = Gauge(
            "daemon_pipeline_data_health",
            "0 healthy, 1 warning, 2 critical, 3 unknown",
            ("pipeline",),
            registry=r,
        )
        self.rate = Gauge(
            "daemon_vertex_processing_rate",
            "Messages/s read per partition and window (absent when not available)",
            ("pipeline", "vertex", "partition", "window"),
            registry=r,
        )

    def render(self) -> bytes:
        s = self.service
        pl = s.pipeline.name
        self.isb_connected.set(1 if s.isb.connected else 0)
        for info in s.last_buffers:
            self.pending.labels(pl, info.buffer).set(info.pending)
            self.ack_pending.labels(pl, info.buffer).set(info.ack_pending)
            self.usage.labels(pl, info.buffer).set(info.usage)
        self.health.labels(pl).set(HealthState[s.status().status.upper()].value)
        self.rate.clear()
        for vertex in s.scraper.rates:
            for m in s.scraper.vertex_metrics(vertex):
                for window, value in m.processing_rates.items():
                    if value >= 0 and math.isfinite(value):
                        self.rate.labels(pl, vertex, m.partition, window).set(value)
        return generate_latest(self.registry)


class DaemonRoutes:
    def __init__(self, service: DaemonService) -> None:
        self.service = service
        self.metrics = DaemonMetrics(service)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        app.router.add_get(PREFIX + "/buffers", self.list_buffers)
        app.router.add_get(PREFIX + "/buffers/{buffer}", self.get_buffer)
        app.router.add_get(PREFIX + "/vertices/{vertex}/metrics", self.vertex_metrics)
        app.router.add_get(PREFIX + "/watermarks", self.watermarks)
        app.router.add_get(PREFIX + "/status", self.status)
        app.router.add_get("/readyz", self.probe)
        app.router.add_get("/livez", self.probe)
        app.router.add_get("/metrics", self.prometheus)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except NotFoundInPipelineError as err:
            return error_response(404, str(err))
        except (ISBUnavailableError, WatermarksUnavailableError) as err:
            return error_response(503, str(err))
        except web.HTTPException as err:
            if err.status >= 400:
                return error_response(err.status, f"{request.method} {request.path}: {err.reason}")
            raise

    def _pipeline(self, request: web.Request) -> str:
        name = request.match_info["pipeline"]
        self.service.check_pipeline(name)
        return name

    async def list_buffers(self, request: web.Request) -> web.Response:
        pl = self._pipeline(request)
        infos = await self.service.list_buffers()
        return web.json_response({"buffers": [buffer_info_json(pl, i) for i in infos]})

    async def get_buffer(self, request: web.Request) -> web.Response:
        pl = self._pipeline(request)
        info = await self.service.get_buffer(request.match_info["buffer"])
        return web.json_response({"buffer": buffer_info_json(pl, info)})

    async def vertex_metrics(self, request: web.Request) -> web.Response:
        self._pipeline(request)
        metrics = self.service.vertex_metrics(request.match_info["vertex"])
        return web.json_response({"vertexMetrics": [vertex_metrics_json(m) for m in metrics]})

    async def watermarks(self, request: web.Request) -> web.Response:
        self._pipeline(request)
        marks = await self.service.edge_watermarks()
        return web.json_response({"pipelineWatermarks": [edge_watermark_json(w) for w in marks]})

    async def status(self, request: web.Request) -> web.Response:
        self._pipeline(request)
        h = self.service.status()
        return web.json_response({"status": {"status": h.status, "message": h.message, "code": h.code}})

    async def probe(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

"""Prometheus metrics of a vertex process (NumaFlow's names) and its HTTP server.

The server answers ``/metrics``, ``/readyz`` (200 once the ISB and UDFs are connected), ``/livez`` and
``/sidecar-livez`` (200 when every UDF answers IsReady) on ``{pod IP}:2469``. NumaFlow serves this port
over HTTPS; numaflux serves plain HTTP (probes must use ``scheme: HTTP``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

LABELS = ("vertex", "pipeline", "vertex_type", "replica", "partition_name")
# microseconds, as NumaFlow's forwarder_processing_time
_TIME_BUCKETS = tuple(float(100 * 2**i) for i in range(18))


class VertexMetrics:
    """The counters the forwarders update; `labels(partition)` binds the vertex's fixed labels."""

    def __init__(self, vertex: str, pipeline: str, vertex_type: str, replica: int) -> None:
        self.registry = CollectorRegistry()
        self._fixed = (vertex, pipeline, vertex_type, str(replica))
        r = self.registry
        self.read_total = Counter("forwarder_read", "Messages read", LABELS, registry=r)
        self.data_read_total = Counter(
            "forwarder_data_read", "Data messages read (control messages left out)", LABELS, registry=r
        )
        self.read_bytes_total = Counter("forwarder_read_bytes", "Bytes read", LABELS, registry=r)
        self.write_total = Counter("forwarder_write", "Messages written", LABELS, registry=r)
        self.write_bytes_total = Counter("forwarder_write_bytes", "Bytes written", LABELS, registry=r)
        self.ack_total = Counter("forwarder_ack", "Messages acknowledged", LABELS, registry=r)
        self.redelivered_total = Counter(
            "forwarder_redelivered",
            "Messages read again after a NAK or an expired AckWait",
            LABELS,
            registry=r,
        )
        self.drop_total = Counter("forwarder_drop", "Messages dropped", (*LABELS, "reason"), registry=r)
        self.drop_bytes_total = Counter(
            "forwarder_drop_bytes", "Bytes dropped", (*LABELS, "reason"), registry=r
        )
        self.error_total = Counter("forwarder_error", "Processing errors", (*LABELS, "reason"), registry=r)
        self.udf_error_total = Counter(
            "forwarder_udf_error", "UDF failures (batch NAKed)", LABELS, registry=r
        )
        self.processing_time = Histogram(
            "forwarder_processing_time",
            "Batch processing time in microseconds",
            LABELS,
            buckets=_TIME_BUCKETS,
            registry=r,
        )
        self.pending = Gauge("vertex_pending_messages_raw", "Pending messages", LABELS, registry=r)
        self.sink_write_total = Counter("sink_write", "Messages written by the sink", LABELS, registry=r)
        self.fallback_write_total = Counter(
            "fallback_sink_write", "Messages written to the fallback sink", LABELS, registry=r
        )
        self.on_success_write_total = Counter(
            "on_success_sink_write", "Messages written to the onSuccess sink", LABELS, registry=r
        )

    def labels(self, partition: str) -> tuple[str, ...]:
        """Label values for `partition` (a buffer name, or the vertex name for sources)."""
        return (*self._fixed, partition)

    def render(self) -> bytes:
        return generate_latest(self.registry)


ReadyCheck = Callable[[], bool]
LiveCheck = Callable[[], Awaitable[bool]]


class MetricsServer:
    """aiohttp server for /metrics, /readyz, /livez, /sidecar-livez."""

    def __init__(
        self, metrics: VertexMetrics, host: str, port: int, ready: ReadyCheck, sidecars_live: LiveCheck
    ) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._ready = ready
        self._sidecars_live = sidecars_live
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/sidecar-livez", self._sidecar_livez)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("metrics on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _readyz(self, request: web.Request) -> web.Response:
        if self._ready():
            return web.Response(text="ok")
        return web.Response(status=503, text="not ready")

    async def _livez(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _sidecar_livez(self, request: web.Request) -> web.Response:
        if await self._sidecars_live():
            return web.Response(text="ok")
        return web.Response(status=503, text="udf not ready")

"""The vertex process (`numaflux vertex`): the `numa` container of every vertex pod.

Builds the forwarder for the Vertex in NUMAFLOW_VERTEX_OBJECT (source, map or sink), waits for the ISB
objects it needs and its UDF containers, serves metrics/health, runs until SIGTERM/SIGINT, then stops
reading, finishes and acks what is in flight (bounded by NUMAFLOW_GRACEFUL_TIMEOUT_SECS) and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Protocol

from nats.aio.client import Client as NATS

from numaflux.api import Sink as SinkSpec
from numaflux.dataplane.config import VertexConfig
from numaflux.dataplane.forward.inputs import Inputs
from numaflux.dataplane.forward.map import MapForwarder
from numaflux.dataplane.forward.outputs import EdgeOutputs
from numaflux.dataplane.forward.sink import SinkForwarder
from numaflux.dataplane.forward.source import SourceForwarder
from numaflux.dataplane.isbconn import connect_isb
from numaflux.dataplane.metrics import MetricsServer, VertexMetrics
from numaflux.dataplane.sinks import Delivery, Sink, build_sink
from numaflux.dataplane.sources.base import Source
from numaflux.dataplane.sources.generator import Generator
from numaflux.dataplane.sources.http import HTTPSource
from numaflux.dataplane.sources.udsource import UserSource
from numaflux.dataplane.supervisor import UDFSupervisor
from numaflux.dataplane.udf import MapClient, SinkRole, SourceTransformClient, UDFPaths
from numaflux.isb import Publisher, missing

log = logging.getLogger(__name__)

ISB_WAIT_INTERVAL = 1.0
PENDING_INTERVAL = 5.0


class SpecError(ValueError):
    """The Vertex asks for something this process cannot run; the message names the field."""


class Forwarder(Protocol):
    async def run(self) -> None: ...

    def stop(self) -> None: ...


class VertexProcess:
    """One vertex replica: connections, UDFs, forwarder, metrics server."""

    def __init__(self, config: VertexConfig) -> None:
        self.config = config
        spec = config.vertex.spec
        vtype = spec.get_vertex_type()
        if vtype is None:
            raise SpecError("vertex: none of source, udf or sink is set")
        if spec.is_reduce_udf():
            raise SpecError("udf.groupBy: reduce vertices are not supported by numaflux yet")
        self.vertex_type = vtype.value
        self.metrics = VertexMetrics(config.vertex_name, config.pipeline, self.vertex_type, config.replica)
        self.paths = UDFPaths(config.udf_dir)
        self.nc: NATS | None = None
        self.publisher: Publisher | None = None
        self.inputs: Inputs | None = None
        self.outputs: EdgeOutputs | None = None
        self.source: Source | None = None
        self.udfs: list[UDFSupervisor] = []
        self.sinks: list[Sink] = []
        self.forwarder: Forwarder | None = None
        self._isb_ready = False
        self._stop = asyncio.Event()
        self.server = MetricsServer(
            self.metrics, config.pod_ip, config.metrics_port, self.ready, self.sidecars_live
        )
        # Spec problems surface here, before any connection is made.
        self._planned_source: Source | None = None
        self._planned_delivery: Delivery | None = None
        try:
            if spec.is_source():
                self._planned_source = self._make_source()
            elif spec.is_sink():
                assert spec.sink is not None
                self._planned_delivery = self._delivery(spec.sink)
        except ValueError as err:
            raise SpecError(str(err)) from err

    # -- health --------------------------------------------------------------------------------
    def ready(self) -> bool:
        """ISB objects present and every UDF connected."""
        if not self._isb_ready or self.forwarder is None:
            return False
        if any(not u.connected for u in self.udfs) or any(not s.connected for s in self.sinks):
            return False
        return self.source is None or self.source.connected

    async def sidecars_live(self) -> bool:
        probes = [u.client.is_ready() for u in self.udfs] + [s.is_ready() for s in self.sinks]
        if isinstance(self.source, UserSource):
            probes.append(self.source.client.is_ready())
        results = await asyncio.gather(*probes, return_exceptions=True)
        return all(r is True for r in results)

    def request_stop(self) -> None:
        self._stop.set()

    # -- assembly ------------------------------------------------------------------------------
    async def _wait_for_isb(self, nc: NATS, buffers: list[str], buckets: list[str]) -> None:
        js = nc.jetstream()
        while True:
            absent = await missing(js, buffers=buffers, buckets=buckets)
            if not absent:
                self._isb_ready = True
                return
            log.info("waiting for ISB objects: %s", ", ".join(absent))
            await asyncio.sleep(ISB_WAIT_INTERVAL)

    def _limits(self) -> tuple[int, float]:
        limits = self.config.vertex.spec.get_limits()
        return limits.get_read_batch_size(), limits.get_read_timeout_seconds()

    async def build(self) -> Forwarder:
        cfg = self.config
        spec = cfg.vertex.spec
        watermarks = not spec.get_watermark().is_disabled()
        nc = self.nc = await connect_isb(cfg)
        js = nc.jetstream()
        batch_size, read_timeout = self._limits()
        publisher = self.publisher = Publisher(nc, window=max(1024, 2 * batch_size))
        await publisher.start()
        outputs = self.outputs = EdgeOutputs(
            js,
            publisher,
            namespace=cfg.namespace,
            pipeline=cfg.pipeline,
            vertex=cfg.vertex_name,
            edges=spec.to_edges or [],
            metrics=self.metrics,
            source_label=cfg.vertex_name,
        )
        buffers = outputs.buffers()
        buckets = outputs.buckets() if watermarks else []
        if not spec.is_source():
            self.inputs = Inputs(
                nc,
                namespace=cfg.namespace,
                pipeline=cfg.pipeline,
                vertex=cfg.vertex_name,
                partitions=spec.get_partition_count(),
                from_edges=spec.from_edges or [],
                batch_size=batch_size,
                read_timeout=read_timeout,
            )
            buffers = self.inputs.buffers + buffers
            if watermarks:
                buckets = self.inputs.buckets + buckets
        await self._wait_for_isb(nc, buffers, buckets)
        if watermarks:
            await outputs.enable_watermarks(cfg.processor_name)
        if spec.is_source():
            return await self._build_source(outputs, batch_size, read_timeout, watermarks)
        assert self.inputs is not None
        if spec.is_sink():
            forwarder: Forwarder = await self._build_sink(self.inputs)
        else:
            client = MapClient(self.paths)
            supervisor = UDFSupervisor(client)
            self.udfs.append(supervisor)
            await supervisor.connect()
            forwarder = MapForwarder(
                self.inputs, outputs, supervisor, client, self.metrics, vertex=cfg.vertex_name
            )
        await self.inputs.start(watermarks)
        return forwarder

    def _make_source(self) -> Source:
        cfg = self.config
        src = cfg.vertex.spec.source
        assert src is not None
        if src.generator is not None:
            return Generator(src.generator, vertex=cfg.vertex_name, replica=cfg.replica)
        if src.http is not None:
            return HTTPSource(src.http, vertex=cfg.vertex_name, host=cfg.pod_ip, token=cfg.http_source_token)
        if src.udsource is not None:
            return UserSource(self.paths, vertex=cfg.vertex_name)
        raise SpecError(f"source: kind {', '.join(src.kinds()) or 'none'} is not supported by numaflux")

    async def _build_source(
        self, outputs: EdgeOutputs, batch_size: int, read_timeout: float, watermarks: bool
    ) -> Forwarder:
        cfg = self.config
        spec = cfg.vertex.spec
        src = spec.source
        assert src is not None
        source = self._planned_source
        assert source is not None
        transformer = None
        if src.transformer is not None:
            client = SourceTransformClient(self.paths)
            supervisor = UDFSupervisor(client)
            self.udfs.append(supervisor)
            await supervisor.connect()
            transformer = (supervisor, client)
        self.source = source
        await source.start()
        max_delay_ms = int(spec.get_watermark().get_max_delay_seconds() * 1000)
        return SourceForwarder(
            source,
            outputs,
            self.metrics,
            vertex=cfg.vertex_name,
            batch_size=batch_size,
            read_timeout=read_timeout,
            transformer=transformer,
            watermarks=watermarks,
            max_delay_ms=max_delay_ms,
        )

    async def _build_sink(self, inputs: Inputs) -> Forwarder:
        delivery = self._planned_delivery
        assert delivery is not None
        self.sinks = delivery.sinks()
        for s in self.sinks:
            await s.start()
        return SinkForwarder(inputs, delivery, self.metrics)

    def _delivery(self, sink_spec: SinkSpec) -> Delivery:
        primary = build_sink(sink_spec, SinkRole.PRIMARY, self.paths, "sink")
        fallback = (
            build_sink(sink_spec.fallback, SinkRole.FALLBACK, self.paths, "sink.fallback")
            if sink_spec.fallback is not None
            else None
        )
        on_success = (
            build_sink(sink_spec.on_success, SinkRole.ON_SUCCESS, self.paths, "sink.onSuccess")
            if sink_spec.on_success is not None
            else None
        )
        return Delivery(
            primary, fallback=fallback, on_success=on_success, retry=sink_spec.get_retry_strategy()
        )

    # -- run -----------------------------------------------------------------------------------
    async def _report_pending(self) -> None:
        """vertex_pending_messages_raw per owned partition (replica 0 only, as NumaFlow)."""
        if self.inputs is None or self.nc is None or self.config.replica != 0:
            return
        js = self.nc.jetstream()
        while True:
            for buffer in self.inputs.buffers:
                try:
                    info = await js.consumer_info(buffer, buffer)
                except Exception as err:  # a metrics refresh must never stop the vertex
                    log.debug("pending of %s: %r", buffer, err)
                    continue
                self.metrics.pending.labels(*self.metrics.labels(buffer)).set(info.num_pending or 0)
            await asyncio.sleep(PENDING_INTERVAL)

    async def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        await self.server.start()
        pending_task: asyncio.Task[None] | None = None
        try:
            build = asyncio.create_task(self.build())
            stop_wait = asyncio.create_task(self._stop.wait())
            await asyncio.wait({build, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if not build.done():
                build.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await build
                return 0
            stop_wait.cancel()
            self.forwarder = build.result()
            log.info("vertex %s replica %d running", self.config.vertex_name, self.config.replica)
            pending_task = asyncio.create_task(self._report_pending())
            run = asyncio.create_task(self.forwarder.run())
            stop_wait = asyncio.create_task(self._stop.wait())
            await asyncio.wait({run, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if run.done():
                stop_wait.cancel()
                run.result()
                return 0
            log.info("stopping: finishing in-flight work")
            self.forwarder.stop()
            try:
                await asyncio.wait_for(asyncio.shield(run), self.config.graceful_timeout)
            except TimeoutError:
                log.warning(
                    "in-flight work not finished after %ss; unacked messages will be redelivered",
                    self.config.graceful_timeout,
                )
                run.cancel()
            return 0
        finally:
            if pending_task is not None:
                pending_task.cancel()
            await self._close()

    async def _close(self) -> None:
        if self.inputs is not None:
            await self.inputs.close()
        if self.source is not None:
            await self.source.close()
        for u in self.udfs:
            await u.close()
        for s in self.sinks:
            await s.close()
        if self.publisher is not None:
            await self.publisher.close()
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.drain()
        await self.server.stop()


async def serve(config: VertexConfig) -> int:
    """Run a vertex process with SIGTERM/SIGINT handling; returns the exit code."""
    process = VertexProcess(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, process.request_stop)
    return await process.run()

"""What the daemon answers, independent of HTTP: buffers, vertex metrics, watermarks, data health."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import nats.errors
from nats.js.errors import NotFoundError

from numaflux.api import Pipeline
from numaflux.daemon.buffers import buffer_owners, get_pipeline_buffer_info
from numaflux.daemon.health import DataHealth, HealthTracker
from numaflux.daemon.isb import ISBConnection, ISBUnavailableError
from numaflux.daemon.scraper import PartitionMetrics, Scraper
from numaflux.daemon.watermarks import EdgeWatermark, WatermarkService
from numaflux.isb.info import BufferInfo

log = logging.getLogger(__name__)


class NotFoundInPipelineError(LookupError):
    """A pipeline, buffer or vertex the request named does not exist here."""


class DaemonService:
    """The daemon's state and queries for one pipeline."""

    def __init__(
        self,
        pipeline: Pipeline,
        isb: ISBConnection,
        scraper: Scraper,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pipeline = pipeline
        self.isb = isb
        self.scraper = scraper
        self.clock = clock
        self.health = HealthTracker()
        self.watermarks = WatermarkService(pipeline, isb)
        self._owners = buffer_owners(pipeline)
        self.last_buffers: list[BufferInfo] = []

    # --- lookups ----------------------------------------------------------------------------------------
    def check_pipeline(self, name: str) -> None:
        if name != self.pipeline.name:
            raise NotFoundInPipelineError(
                f"pipeline {name!r} not found: this daemon serves pipeline {self.pipeline.name!r}"
            )

    def check_buffer(self, buffer: str) -> None:
        if buffer not in self._owners:
            known = ", ".join(self._owners) or "none"
            raise NotFoundInPipelineError(
                f"buffer {buffer!r} not found in pipeline {self.pipeline.name!r} (buffers: {known})"
            )

    def check_vertex(self, vertex: str) -> None:
        if self.pipeline.get_vertex(vertex) is None:
            known = ", ".join(v.get_name() for v in self.pipeline.vertices)
            raise NotFoundInPipelineError(
                f"vertex {vertex!r} not found in pipeline {self.pipeline.name!r} (vertices: {known})"
            )

    # --- buffers ----------------------------------------------------------------------------------------
    async def get_buffer(self, buffer: str) -> BufferInfo:
        """BufferInfo from JetStream; ISBUnavailableError when the ISB does not answer."""
        self.check_buffer(buffer)
        js = self.isb.jetstream()
        try:
            return await get_pipeline_buffer_info(js, self.pipeline, buffer)
        except NotFoundError as err:
            raise ISBUnavailableError(
                f"buffer {buffer!r}: no such stream or consumer in the ISB service at {self.isb.url}"
            ) from err
        except (nats.errors.Error, TimeoutError, OSError) as err:
            raise self.isb.unavailable(f"{type(err).__name__} reading buffer {buffer!r}") from err

    async def list_buffers(self) -> list[BufferInfo]:
        return [await self.get_buffer(b) for b in self._owners]

    async def is_drained(self) -> bool:
        return all(i.is_drained for i in await self.list_buffers())

    # --- rates, watermarks, health ---------------------------------------------------------------------
    def vertex_metrics(self, vertex: str) -> list[PartitionMetrics]:
        self.check_vertex(vertex)
        return self.scraper.vertex_metrics(vertex)

    async def edge_watermarks(self) -> list[EdgeWatermark]:
        return await self.watermarks.edge_watermarks()

    def status(self) -> DataHealth:
        return self.health.current

    async def health_step(self) -> DataHealth:
        """One data-health step: sample every buffer's usage (unknown if that fails)."""
        try:
            infos = await self.list_buffers()
        except ISBUnavailableError as err:
            log.warning("data health: %s", err)
            return self.health.record_failure()
        self.last_buffers = infos
        return self.health.record((i.buffer, i.usage) for i in infos)

    async def run_health(self, step: float) -> None:
        """Take a health step every `step` seconds (the first one `step` seconds from now), forever."""
        loop = asyncio.get_running_loop()
        next_at = loop.time() + step
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += step
            await self.health_step()

    async def close(self) -> None:
        await self.watermarks.close()

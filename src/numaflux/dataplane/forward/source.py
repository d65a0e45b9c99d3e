"""Source vertex: read the source → (transformer) → route and write every out edge → ack the source.

The source is acked only after every write is confirmed, so an HTTP client gets its 200 only then.
The batch watermark (min event time - maxDelay) goes to each out edge's OT bucket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from numaflux.dataplane.forward.outputs import EdgeOutputs, Output
from numaflux.dataplane.forward.pipeline import OrderedPipeline, Turn
from numaflux.dataplane.metrics import VertexMetrics
from numaflux.dataplane.sources.base import Source
from numaflux.dataplane.supervisor import UDFSupervisor
from numaflux.dataplane.udf import SourceTransformClient, UDFDatum, UDFError
from numaflux.isb import Message, MessageID

log = logging.getLogger(__name__)

EMPTY_READ_PAUSE = 0.002


class SourceForwarder:
    def __init__(
        self,
        source: Source,
        outputs: EdgeOutputs,
        metrics: VertexMetrics,
        *,
        vertex: str,
        batch_size: int,
        read_timeout: float,
        transformer: tuple[UDFSupervisor, SourceTransformClient] | None = None,
        watermarks: bool = True,
        max_delay_ms: int = 0,
        depth: int = 2,
    ) -> None:
        self.source = source
        self.outputs = outputs
        self.metrics = metrics
        self.vertex = vertex
        self.batch_size = batch_size
        self.read_timeout = read_timeout
        self.transformer = transformer
        self.watermarks = watermarks
        self.max_delay_ms = max_delay_ms
        self.depth = depth
        self._stopping = False
        self._labels = metrics.labels(vertex)

    def stop(self) -> None:
        self._stopping = True
        self.source.stop()

    async def run(self) -> None:
        pipe = OrderedPipeline(self.depth, name=f"source-{self.vertex}")
        m = self.metrics
        read_total = m.read_total.labels(*self._labels)
        data_read = m.data_read_total.labels(*self._labels)
        read_bytes = m.read_bytes_total.labels(*self._labels)
        try:
            while not self._stopping:
                messages = await self.source.read(self.batch_size, self.read_timeout)
                if not messages:
                    if pipe.in_flight:
                        # a UD source may answer "nothing" at once while its last batch is unacked
                        await asyncio.sleep(EMPTY_READ_PAUSE)
                    continue
                read_total.inc(len(messages))
                data_read.inc(len(messages))
                read_bytes.inc(sum(len(x.payload) for x in messages))

                async def job(turn: Turn, batch: list[Message] = messages) -> None:
                    await self._process(batch, turn)

                await pipe.submit(job)
            # drain what the source still hands out after stop (e.g. queued HTTP requests)
            while messages := await self.source.read(self.batch_size, 0.01):

                async def last(turn: Turn, batch: list[Message] = messages) -> None:
                    await self._process(batch, turn)

                await pipe.submit(last)
        finally:
            await pipe.drain()

    async def _transform(self, batch: Sequence[Message]) -> list[Output]:
        assert self.transformer is not None
        supervisor, client = self.transformer
        datums = [
            UDFDatum(f"{m.id.offset}", m.payload, list(m.keys), m.event_time_ns // 1_000_000, None, m.headers)
            for m in batch
        ]
        while True:
            await supervisor.wait_connected()
            try:
                results = await client.transform_batch(datums)
                break
            except UDFError as err:
                # a source cannot redeliver in general: keep the batch and retry after reconnecting
                self.metrics.udf_error_total.labels(*self._labels).inc()
                supervisor.failed(err)
        out: list[Output] = []
        for m, d in zip(batch, datums, strict=True):
            for i, r in enumerate(results[d.id]):
                msg = Message(
                    r.value,
                    MessageID(self.vertex, m.id.offset, i),
                    r.event_time_ms * 1_000_000,
                    tuple(r.keys),
                    m.headers,
                )
                out.append(Output(msg, r.tags or None))
        return out

    async def _process(self, batch: list[Message], turn: Turn) -> None:
        started = time.perf_counter()
        outputs = await self._transform(batch) if self.transformer else [Output(x) for x in batch]
        watermark = -1
        if self.watermarks and outputs:
            watermark = min(o.message.event_time_ns for o in outputs) // 1_000_000 - self.max_delay_ms
        async with turn:
            await self.outputs.write(outputs, watermark)
        await self.source.ack(batch)
        m = self.metrics
        m.ack_total.labels(*self._labels).inc(len(batch))
        m.processing_time.labels(*self._labels).observe((time.perf_counter() - started) * 1e6)

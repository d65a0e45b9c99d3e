"""Sink vertex: read → deliver (retryStrategy, fallback, onSuccess) → ack; batches reach the sinks in
read order per partition."""

from __future__ import annotations

import logging
import time

from numaflux.dataplane.forward.inputs import Inputs
from numaflux.dataplane.forward.isb_forwarder import ISBForwarder, datums_for
from numaflux.dataplane.forward.pipeline import Turn
from numaflux.dataplane.metrics import VertexMetrics
from numaflux.dataplane.sinks.delivery import Delivery, SinkConfigError
from numaflux.dataplane.udf import UDFError
from numaflux.isb import BufferReader, ReadMessage

log = logging.getLogger(__name__)

NAK_DELAY = 1.0


class SinkForwarder(ISBForwarder):
    def __init__(self, inputs: Inputs, delivery: Delivery, metrics: VertexMetrics, *, depth: int = 2) -> None:
        super().__init__(inputs, metrics, depth=depth)
        self.delivery = delivery

    async def process(self, reader: BufferReader, batch: list[ReadMessage], turn: Turn) -> None:
        started = time.perf_counter()
        m = self.metrics
        labels = m.labels(reader.buffer)
        datums = datums_for(batch, self.inputs.watermark_at(reader.partition, batch[0].sequence))
        async with reader.keep_in_progress(batch), turn:
            try:
                summary = await self.delivery.deliver(datums)
            except (UDFError, SinkConfigError) as err:
                m.error_total.labels(*labels, type(err).__name__).inc()
                log.warning("sink %s: batch of %d NAKed: %s", reader.buffer, len(batch), err)
                await reader.nak(batch, delay=NAK_DELAY)
                if isinstance(err, UDFError):
                    for sink in self.delivery.sinks():
                        if not sink.connected:
                            await sink.failed(err)
                return
        m.sink_write_total.labels(*labels).inc(summary.succeeded)
        if summary.fallback:
            m.fallback_write_total.labels(*labels).inc(summary.fallback)
        if summary.on_success:
            m.on_success_write_total.labels(*labels).inc(summary.on_success)
        if summary.dropped:
            m.drop_total.labels(*labels, "retries-exhausted").inc(summary.dropped)
        await self.acked(reader, batch)
        m.processing_time.labels(*labels).observe((time.perf_counter() - started) * 1e6)

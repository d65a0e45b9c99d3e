"""The read loop shared by map and sink vertices: per owned partition, read batches and hand each to
`process(reader, batch, turn)` through an OrderedPipeline; `stop()` drains and returns."""

from __future__ import annotations

import abc
import asyncio
import logging

from numaflux.dataplane.forward.inputs import Inputs
from numaflux.dataplane.forward.pipeline import OrderedPipeline, Turn
from numaflux.dataplane.metrics import VertexMetrics
from numaflux.dataplane.udf import UDFDatum
from numaflux.isb import BufferReader, Kind, ReadMessage

log = logging.getLogger(__name__)


def datums_for(batch: list[ReadMessage], watermark_ms: int) -> list[UDFDatum]:
    """UDF requests for a read batch; the id is the read-side message id (``{vertex}-{seq}-{p}-0``)."""
    wm = watermark_ms if watermark_ms >= 0 else None
    out = []
    for rm in batch:
        m = rm.message
        out.append(UDFDatum(str(rm.id), m.payload, list(m.keys), m.event_time_ns // 1_000_000, wm, m.headers))
    return out


class ISBForwarder(abc.ABC):
    """Reads every owned partition; subclasses process batches."""

    def __init__(self, inputs: Inputs, metrics: VertexMetrics, *, depth: int = 2) -> None:
        self.inputs = inputs
        self.metrics = metrics
        self.depth = depth

    async def run(self) -> None:
        await asyncio.gather(*(self._run_partition(r) for r in self.inputs.readers))

    def stop(self) -> None:
        self.inputs.stop()

    async def before_submit(self) -> None:  # noqa: B027 -- optional hook
        """Hook: wait before starting a new batch (e.g. until the UDF is reconnected)."""

    async def _run_partition(self, reader: BufferReader) -> None:
        pipe = OrderedPipeline(self.depth, name=f"forward-{reader.buffer}")
        labels = self.metrics.labels(reader.buffer)
        read_total = self.metrics.read_total.labels(*labels)
        data_read = self.metrics.data_read_total.labels(*labels)
        read_bytes = self.metrics.read_bytes_total.labels(*labels)
        redelivered = self.metrics.redelivered_total.labels(*labels)
        try:
            while True:
                batch = await reader.read()
                if not batch:
                    if reader.exhausted:
                        break
                    continue
                read_total.inc(len(batch))
                read_bytes.inc(sum(len(rm.message.payload) for rm in batch))
                again = sum(1 for rm in batch if rm.num_delivered > 1)
                if again:
                    redelivered.inc(again)
                control = [rm for rm in batch if rm.message.kind is not Kind.DATA]
                if control:
                    await reader.ack(control, wait=False)
                    batch = [rm for rm in batch if rm.message.kind is Kind.DATA]
                    if not batch:
                        continue
                data_read.inc(len(batch))
                await self.before_submit()

                async def job(turn: Turn, b: list[ReadMessage] = batch) -> None:
                    await self.process(reader, b, turn)

                await pipe.submit(job)
        finally:
            await pipe.drain()

    @abc.abstractmethod
    async def process(self, reader: BufferReader, batch: list[ReadMessage], turn: Turn) -> None:
        """Handle one batch: ack it when done, NAK it on failure."""

    async def acked(self, reader: BufferReader, batch: list[ReadMessage]) -> None:
        await reader.ack(batch, wait=False)
        self.metrics.ack_total.labels(*self.metrics.labels(reader.buffer)).inc(len(batch))

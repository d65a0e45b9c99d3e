"""Map vertex: read → map UDF → route by tags → write every out edge → ack.

Output ids are ``{vertex}-{parent offset}-{parent index}-{i}`` (NumaFlow's map output rule), so a
redelivered input produces the same ids and JetStream's dedup window drops the rewrites.
"""

from __future__ import annotations

import logging
import time

from numaflux.dataplane.forward.inputs import Inputs
from numaflux.dataplane.forward.isb_forwarder import ISBForwarder, datums_for
from numaflux.dataplane.forward.outputs import EdgeOutputs, Output
from numaflux.dataplane.forward.pipeline import Turn
from numaflux.dataplane.metrics import VertexMetrics
from numaflux.dataplane.supervisor import UDFSupervisor
from numaflux.dataplane.udf import MapClient, UDFError
from numaflux.isb import BufferReader, Message, MessageID, ReadMessage

log = logging.getLogger(__name__)

NAK_DELAY = 1.0  # seconds before a batch NAKed for a UDF failure comes back


class MapForwarder(ISBForwarder):
    def __init__(
        self,
        inputs: Inputs,
        outputs: EdgeOutputs,
        udf: UDFSupervisor,
        client: MapClient,
        metrics: VertexMetrics,
        *,
        vertex: str,
        depth: int = 2,
    ) -> None:
        super().__init__(inputs, metrics, depth=depth)
        self.outputs = outputs
        self.udf = udf
        self.client = client
        self.vertex = vertex

    async def before_submit(self) -> None:
        await self.udf.wait_connected()

    async def process(self, reader: BufferReader, batch: list[ReadMessage], turn: Turn) -> None:
        started = time.perf_counter()
        m = self.metrics
        labels = m.labels(reader.buffer)
        watermark = self.inputs.watermark_at(reader.partition, batch[0].sequence)
        datums = datums_for(batch, watermark)
        async with reader.keep_in_progress(batch):
            try:
                results = await self.client.map_batch(datums)
            except (UDFError, ValueError) as err:
                # ValueError: an id still in flight (a redelivery racing its first delivery).
                m.udf_error_total.labels(*labels).inc()
                m.error_total.labels(*labels, type(err).__name__).inc()
                log.warning("map %s: batch of %d NAKed: %s", reader.buffer, len(batch), err)
                await reader.nak(batch, delay=NAK_DELAY)
                if isinstance(err, UDFError):
                    self.udf.failed(err)
                return
            outputs: list[Output] = []
            vertex = self.vertex
            for rm, d in zip(batch, datums, strict=True):
                parent = f"{rm.id.offset}-{rm.id.index}"
                msg = rm.message
                for i, r in enumerate(results[d.id]):
                    out = Message(
                        r.value,
                        MessageID(vertex, parent, i),
                        msg.event_time_ns,
                        tuple(r.keys),
                        msg.headers,
                        msg.is_late,
                    )
                    outputs.append(Output(out, r.tags or None))
            async with turn:
                await self.outputs.write(outputs, watermark)
        await self.acked(reader, batch)
        m.processing_time.labels(*labels).observe((time.perf_counter() - started) * 1e6)
